//! `linkguard config check`: validate a configuration and print the effective
//! one, secrets redacted, with where each value came from.

use crate::config::Config;
use std::process::ExitCode;

/// Arguments of `linkguard config`.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    cmd: ConfigCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print the effective one (secrets redacted).
    Check,
    /// List every setting with its environment variable.
    Keys,
}

/// Runs `linkguard config …` on an already loaded configuration.
pub fn run(args: ConfigArgs, config: &Config) -> ExitCode {
    match args.cmd {
        ConfigCommand::Check => {
            print!("{}", config.describe());
            for w in config.warnings() {
                eprintln!("warning: {w}");
            }
            let errors = config.run_errors();
            if !errors.is_empty() {
                for e in &errors {
                    eprintln!("error: {e}");
                }
                eprintln!("configuration refused: `linkguard run` would not start");
                return ExitCode::from(2);
            }
            println!("configuration OK");
        }
        ConfigCommand::Keys => {
            for (key, env, doc) in Config::keys() {
                println!("{key:<24} {env:<34} {doc}");
            }
        }
    }
    ExitCode::SUCCESS
}
