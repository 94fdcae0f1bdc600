
pub mod slack;
pub mod discord;
pub mod tls;
