//! End-to-end test support for linkguard: helpers per platform, shared by
//! the tests in `tests/tests/`.

pub mod discord_support;
pub mod slack_support;
