//! Man pages and shell completions generated from each binary's clap definition.
//!
//! Every binary calls [`generate_if_requested`] first thing in `main`. The packaging step runs
//! it as `<bin> --generate-docs <dir>` (a hidden flag that must be the only argument, so no
//! environment variable can ever turn a daemon into a doc writer); it writes
//! `<dir>/man/<name>.1` (plus one page per subcommand, `<name>-<sub>.1`) and
//! `<dir>/completions/{bash,zsh,fish}/...`, then exits 0.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The hidden flag (not in `--help`: it is a build step, not a user command).
pub const FLAG: &str = "--generate-docs";

/// The docs directory when the arguments (program name excluded) are exactly
/// `--generate-docs <dir>`.
pub fn requested_dir(args: &[OsString]) -> Option<PathBuf> {
    match args {
        [flag, dir] if flag == FLAG => Some(PathBuf::from(dir)),
        _ => None,
    }
}

/// If the command line is exactly `<bin> --generate-docs <dir>`, writes the docs for `cmd`
/// there and exits the process (0, or 1 when the files cannot be written). Otherwise returns
/// and the binary parses its arguments as usual.
pub fn generate_if_requested(cmd: clap::Command) {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let Some(dir) = requested_dir(&args) else {
        return;
    };
    match generate(cmd, &dir) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("cannot write docs to {}: {e}", dir.display());
            std::process::exit(1)
        }
    }
}

/// Writes man pages and completions for `cmd` into `dir`.
pub fn generate(mut cmd: clap::Command, dir: &Path) -> std::io::Result<()> {
    use clap_complete::Shell;
    cmd.build();
    let name = cmd.get_name().to_string();
    let man = dir.join("man");
    std::fs::create_dir_all(&man)?;
    write_man(&cmd, &name, &man)?;
    for (shell, sub, file) in [
        (Shell::Bash, "bash", name.clone()),
        (Shell::Zsh, "zsh", format!("_{name}")),
        (Shell::Fish, "fish", format!("{name}.fish")),
    ] {
        let d = dir.join("completions").join(sub);
        std::fs::create_dir_all(&d)?;
        let mut f = std::fs::File::create(d.join(file))?;
        clap_complete::generate(shell, &mut cmd, name.clone(), &mut f);
    }
    Ok(())
}

fn write_man(cmd: &clap::Command, page: &str, dir: &Path) -> std::io::Result<()> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone().name(page.to_string())).render(&mut buf)?;
    std::fs::write(dir.join(format!("{page}.1")), buf)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_man(sub, &format!("{page}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_exact_flag_requests_docs() {
        let a = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert_eq!(
            super::requested_dir(&a(&["--generate-docs", "/tmp/d"])),
            Some("/tmp/d".into())
        );
        assert_eq!(super::requested_dir(&a(&[])), None);
        assert_eq!(super::requested_dir(&a(&["--generate-docs"])), None);
        assert_eq!(
            super::requested_dir(&a(&["--config", "x", "--generate-docs", "/tmp/d"])),
            None
        );
    }

    #[test]
    fn writes_man_and_completions() {
        let cmd = clap::Command::new("demo")
            .about("demo tool")
            .subcommand(clap::Command::new("run").about("runs"));
        let d = tempfile::tempdir().unwrap();
        super::generate(cmd, d.path()).unwrap();
        let page = std::fs::read_to_string(d.path().join("man/demo.1")).unwrap();
        assert!(page.contains("demo tool"));
        assert!(d.path().join("man/demo-run.1").exists());
        assert!(d.path().join("completions/bash/demo").exists());
        assert!(d.path().join("completions/zsh/_demo").exists());
        assert!(d.path().join("completions/fish/demo.fish").exists());
    }
}
