//! `optimize`: the trader's CLI (Linux and `optimize.exe` on Windows). Every subcommand's
//! arguments, loading and printing live in the command layer, `scalp_cli::optimize`.

fn main() -> std::process::ExitCode {
    scalp_cli::optimize::main()
}
