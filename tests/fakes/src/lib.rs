pub mod discord;
pub mod slack;
pub mod tls;
