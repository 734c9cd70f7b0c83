//! What every command-line program shares when it reports a failure.

use std::error::Error;

/// The report of a user error: `Error: <message>` and, when the error has causes, the
/// `Caused by:` list (the layout of `anyhow`'s report), never a backtrace: a bad argument or a
/// missing file is not a bug, so `RUST_BACKTRACE=1` must not print build paths at the user.
pub fn error_report(e: &(dyn Error + 'static)) -> String {
    let mut out = format!("Error: {e}");
    let mut causes = Vec::new();
    let mut next = e.source();
    while let Some(c) = next {
        causes.push(c.to_string());
        next = c.source();
    }
    if !causes.is_empty() {
        out.push_str("\n\nCaused by:");
        for (i, c) in causes.iter().enumerate() {
            out.push_str(&format!("\n    {i}: {c}"));
        }
    }
    out
}

/// `e` followed by each of its sources, joined by `: ` — the whole chain on one line, for a log
/// line, a state file's `last_error` or a message that quotes a failure. A cause whose text is
/// already in the line (an error that prints its source in its own message too) is not
/// repeated.
pub fn error_chain(e: &dyn Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let m = s.to_string();
        if !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        next = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn chain_without_backtrace() {
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(
            super::error_report(&e),
            "Error: outer\n\nCaused by:\n    0: inner"
        );
        let e = std::io::Error::other("alone");
        assert_eq!(super::error_report(&e), "Error: alone");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("open {0}")]
    struct Echo(#[source] std::io::Error);

    #[test]
    fn one_line_chain_does_not_repeat_a_cause() {
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(super::error_chain(&e), "outer: inner");
        // a message that already quotes its source
        let e = Echo(std::io::Error::other("denied"));
        assert_eq!(super::error_chain(&e), "open denied");
    }
}
