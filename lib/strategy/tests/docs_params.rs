//! docs/STRATEGIES.md lists every strategy with a parameter table generated from its
//! `ParamSpec` declarations. Regenerate the tables with
//! `SCALP_BLESS_DOCS=1 cargo test -p scalp-strategy --test integration docs_params`.

use scalp_strategy::registry::{SPECS, params_markdown};

#[test]
fn strategies_md_documents_every_param() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/STRATEGIES.md");
    let mut doc = std::fs::read_to_string(path).expect("docs/STRATEGIES.md");
    let bless = std::env::var("SCALP_BLESS_DOCS").is_ok_and(|v| v == "1");
    let mut stale = vec![];
    for s in SPECS {
        assert!(
            doc.contains(&format!("\n## `{}`", s.name)),
            "docs/STRATEGIES.md: no section ## `{}`",
            s.name
        );
        let (open, close) = (
            format!("<!-- params:{} -->\n", s.name),
            format!("<!-- /params:{} -->", s.name),
        );
        let a = doc
            .find(&open)
            .unwrap_or_else(|| panic!("docs/STRATEGIES.md: no {open:?} marker"))
            + open.len();
        let b = a + doc[a..]
            .find(&close)
            .unwrap_or_else(|| panic!("docs/STRATEGIES.md: no {close:?} marker"));
        let want = params_markdown(s);
        if doc[a..b] != want {
            stale.push(s.name);
            doc.replace_range(a..b, &want);
        }
        for p in s.params {
            assert!(want.contains(&format!("| `{}` |", p.name)));
        }
    }
    if bless {
        std::fs::write(path, doc).unwrap();
    } else {
        assert!(
            stale.is_empty(),
            "parameter tables out of date for {stale:?}: run SCALP_BLESS_DOCS=1 cargo test -p scalp-strategy --test integration docs_params"
        );
    }
}
