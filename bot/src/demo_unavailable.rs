//! `linkguard demo` in a build without the `demo` feature (the container
//! image and release builds): the fake Slack and fake Discord servers the
//! demo plays against are not linked in, so the command only says how to
//! get a build that has them.

use std::ffi::OsString;
use std::process::ExitCode;

/// Arguments of `linkguard demo`: whatever was given, so that the answer is
/// the same with or without `--database`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    _args: Vec<OsString>,
}

/// Fails with what to do instead.
pub async fn run(_args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "this linkguard was built without the `demo` feature (release builds and the \
         container image leave out the fake Slack and Discord servers); run the demo from \
         a source checkout with `cargo run -- demo`, or build with \
         `cargo build -p linkguard --features demo`"
    )
}
