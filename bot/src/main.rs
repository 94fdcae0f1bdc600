//! The `linkguard` command.

fn main() -> std::process::ExitCode {
    linkguard::cli::main()
}
