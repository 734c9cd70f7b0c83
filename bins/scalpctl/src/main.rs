//! `scalpctl`: the admin's command on the server. Its arguments and report printing live in
//! `scalp_admin::cli`.

fn main() -> std::process::ExitCode {
    scalp_admin::cli::main()
}
