//! `linkguard-rules`: the pure core of linkguard.
//!
//! Text in, spans out. This crate finds meeting links in chat messages exactly
//! as Slack or Discord deliver them, decides what a policy says about each, and
//! rewrites the message with approved alternatives. It performs no I/O and has
//! no async runtime in its dependency tree, so it can be tested, fuzzed and
//! benchmarked alone.
#![deny(missing_docs)]

pub mod detect;
pub mod eval;
mod keyfilter;
mod link;
mod patterns;
pub mod policy;
pub mod prefilter;
pub mod redact;
pub mod rewrite;
pub mod timefmt;

pub use link::{Dialect, Link, ProviderId};
