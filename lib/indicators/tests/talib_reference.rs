//! Indicators vs TA-Lib. Reference file `tests/data/indicators_btcusd_1h_first300.csv`:
//! computed by TA-Lib 0.8.2 from data/coinbase_btcusd_1h.csv (see tests/data/README.md).

use scalp_core::Candle;
use scalp_indicators::*;

struct Ref {
    candles: Vec<Candle>,
    cols: Vec<(String, Vec<Option<f64>>)>,
}

fn load() -> Ref {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/indicators_btcusd_1h_first300.csv"
    );
    let text = std::fs::read_to_string(path).expect("reference file");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        header[..6],
        ["ts", "open", "high", "low", "close", "volume"]
    );
    let mut cols: Vec<(String, Vec<Option<f64>>)> = header[6..]
        .iter()
        .map(|h| (h.to_string(), vec![]))
        .collect();
    let mut candles = vec![];
    for (i, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), header.len(), "line {}", i + 2);
        let num = |s: &str| {
            s.parse::<f64>()
                .unwrap_or_else(|e| panic!("line {}: `{s}`: {e}", i + 2))
        };
        candles.push(Candle {
            open_time: 0,
            open: num(f[1]),
            high: num(f[2]),
            low: num(f[3]),
            close: num(f[4]),
            volume: num(f[5]),
        });
        for (k, c) in cols.iter_mut().enumerate() {
            let s = f[6 + k];
            c.1.push(if s.is_empty() { None } else { Some(num(s)) });
        }
    }
    Ref { candles, cols }
}

fn check(name: &str, ours: &[f64], theirs: &[Option<f64>]) {
    assert_eq!(ours.len(), theirs.len());
    let mut compared = 0;
    for (i, (o, t)) in ours.iter().zip(theirs).enumerate() {
        match t {
            None => assert!(
                o.is_nan(),
                "{name}[{i}]: TA-Lib has no value yet, we have {o}"
            ),
            Some(t) => {
                assert!(!o.is_nan(), "{name}[{i}]: TA-Lib has {t}, we have none");
                let rel = ((o - t) / t).abs();
                assert!(
                    rel <= 1e-9,
                    "{name}[{i}]: ours {o} vs TA-Lib {t} (rel {rel:e})"
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 250, "{name}: only {compared} values compared");
}

fn col<'a>(r: &'a Ref, name: &str) -> &'a [Option<f64>] {
    &r.cols
        .iter()
        .find(|c| c.0 == name)
        .unwrap_or_else(|| panic!("column {name}"))
        .1
}

#[test]
fn reference_rows_are_the_bundled_data() {
    let r = load();
    let data = scalp_core::csvdata::read_candles_csv(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/coinbase_btcusd_1h.csv"
    )))
    .unwrap();
    for (a, b) in r.candles.iter().zip(&data) {
        assert_eq!(
            (a.open, a.high, a.low, a.close, a.volume),
            (b.open, b.high, b.low, b.close, b.volume)
        );
    }
}

#[test]
fn matches_talib() {
    let r = load();
    let closes: Vec<f64> = r.candles.iter().map(|c| c.close).collect();
    check("sma20", &sma(&closes, 20), col(&r, "sma20"));
    check("ema20", &ema(&closes, 20), col(&r, "ema20"));
    check("rsi14", &rsi(&closes, 14), col(&r, "rsi14"));
    check("atr14", &atr(&r.candles, 14), col(&r, "atr14"));
    let bb = bollinger(&closes, 20, 2.0);
    check("bb_mid", &bb.mid, col(&r, "bb_mid"));
    check("bb_up", &bb.up, col(&r, "bb_up"));
    check("bb_low", &bb.low, col(&r, "bb_low"));
}

#[test]
fn table_columns_match_talib_too() {
    let r = load();
    let names = [
        "sma20", "ema20", "rsi14", "atr14", "bb_mid", "bb_up", "bb_low",
    ];
    let t = table(&r.candles, Some(&names)).unwrap();
    assert_eq!(t.headers, names);
    for (h, c) in t.headers.iter().zip(&t.columns) {
        check(h, c, col(&r, h));
    }
    let err = table(&r.candles, Some(&["sma20", "nope"])).unwrap_err();
    assert!(err.to_string().contains("`nope`"), "{err}");
}

#[test]
fn adx_first_value_at_index_27() {
    let r = load();
    let d = adx(&r.candles, 14);
    assert!(d.adx[26].is_nan() && !d.adx[27].is_nan());
    assert!(d.plus_di[13].is_nan() && !d.plus_di[14].is_nan());
    assert!(d.adx.iter().skip(27).all(|x| (0.0..=100.0).contains(x)));
}

/// ADX/±DI, ROC, MAX, MIN vs `tests/data/indicators_extra_btcusd_1h_first300.csv` (computed by
/// TA-Lib 0.8.2 from data/coinbase_btcusd_1h.csv with tests/data/make_extra_reference.py).
#[test]
fn matches_talib_extra() {
    let r = load();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/indicators_extra_btcusd_1h_first300.csv"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let mut cols: Vec<Vec<Option<f64>>> = vec![vec![]; header.len()];
    for line in lines {
        for (k, s) in line.split(',').enumerate() {
            cols[k].push(if s.is_empty() {
                None
            } else {
                Some(s.parse().unwrap())
            });
        }
    }
    let get = |n: &str| &cols[header.iter().position(|h| h == n).unwrap()];
    let closes: Vec<f64> = r.candles.iter().map(|c| c.close).collect();
    let highs: Vec<f64> = r.candles.iter().map(|c| c.high).collect();
    let lows: Vec<f64> = r.candles.iter().map(|c| c.low).collect();
    let d = adx(&r.candles, 14);
    check("adx14", &d.adx, get("adx14"));
    check("plus_di14", &d.plus_di, get("plus_di14"));
    check("minus_di14", &d.minus_di, get("minus_di14"));
    check("roc10", &roc(&closes, 10), get("roc10"));
    check("max_high20", &rolling_max(&highs, 20), get("max_high20"));
    check("min_low20", &rolling_min(&lows, 20), get("min_low20"));
    let dc = donchian(&r.candles, 20);
    check("donchian up", &dc.up, get("max_high20"));
    check("donchian low", &dc.low, get("min_low20"));
}

#[test]
fn indicators_md_documents_every_table_column() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/INDICATORS.md"
    ))
    .unwrap();
    for (name, _) in TABLE_COLUMNS {
        assert!(
            doc.contains(&format!("`{name}`")),
            "docs/INDICATORS.md does not list column `{name}`"
        );
    }
}
