//! `linkguard`: the service around the pure rules engine.
//!
//! Error handling: library modules (`store`, `config`) return typed errors
//! (`thiserror`); `anyhow` with `.context(..)` is used only at the edges, in
//! `cli` and `main`, where errors are reported to a person.

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
#[cfg(not(feature = "demo"))]
#[path = "demo_unavailable.rs"]
pub mod demo;
pub mod discord;
pub mod http;
pub mod metrics;
pub mod moderation;
pub mod notice;
pub mod slack;
pub mod store;
pub mod telemetry;
pub mod tenancy;
pub mod web;
