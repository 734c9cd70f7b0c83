//! Reading candle CSV files (`ts_ms,open,high,low,close,volume`, ascending open times).
//!
//! Used by the replay source, `optimize --data FILE.csv` and the tests. Every error names the
//! file, the line and the field.

use crate::Candle;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("{path}: cannot open: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {msg}")]
    Row {
        path: String,
        line: u64,
        msg: String,
    },
    #[error("{path}: no candles")]
    Empty { path: String },
}

const COLUMNS: [&str; 6] = ["ts_ms", "open", "high", "low", "close", "volume"];

/// Reads a whole candle CSV. The header must be exactly `ts_ms,open,high,low,close,volume`;
/// open times must be Unix milliseconds ([`crate::series::check_ms`]: seconds and microseconds
/// are refused) and strictly increasing; each candle must pass [`Candle::validate`].
pub fn read_candles_csv(path: &Path) -> Result<Vec<Candle>, CsvError> {
    let p = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| CsvError::Open {
        path: p.clone(),
        source,
    })?;
    read_candles(file, &p)
}

/// Same as [`read_candles_csv`] from any reader; `name` is used in error messages.
pub fn read_candles<R: std::io::Read>(reader: R, name: &str) -> Result<Vec<Candle>, CsvError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(reader);
    let row_err = |line: u64, msg: String| CsvError::Row {
        path: name.to_string(),
        line,
        msg,
    };
    let headers = rdr
        .headers()
        .map_err(|e| row_err(1, e.to_string()))?
        .clone();
    let got: Vec<&str> = headers.iter().map(|h| h.trim()).collect();
    if got != COLUMNS {
        return Err(row_err(
            1,
            format!(
                "header must be `{}`, found `{}`",
                COLUMNS.join(","),
                got.join(",")
            ),
        ));
    }
    let mut out = Vec::new();
    let mut rec = csv::StringRecord::new();
    let mut prev: Option<i64> = None;
    loop {
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                return Err(row_err(line, e.to_string()));
            }
        }
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.len() != 6 {
            return Err(row_err(
                line,
                format!("expected 6 fields, found {}", rec.len()),
            ));
        }
        let field = |i: usize| -> Result<f64, CsvError> {
            let s = rec[i].trim();
            s.parse::<f64>().map_err(|_| {
                row_err(
                    line,
                    format!("field `{}`: `{s}` is not a number", COLUMNS[i]),
                )
            })
        };
        let ts_s = rec[0].trim();
        let ts: i64 = ts_s
            .parse()
            .map_err(|_| row_err(line, format!("field `ts_ms`: `{ts_s}` is not an integer")))?;
        crate::series::check_ms(ts).map_err(|m| row_err(line, format!("field `ts_ms`: {m}")))?;
        let c = Candle {
            open_time: ts,
            open: field(1)?,
            high: field(2)?,
            low: field(3)?,
            close: field(4)?,
            volume: field(5)?,
        };
        c.validate().map_err(|m| row_err(line, m))?;
        if let Some(p) = prev
            && ts <= p
        {
            return Err(row_err(
                line,
                format!(
                    "field `ts_ms`: {ts} is not after the previous row's {p} (rows must ascend)"
                ),
            ));
        }
        prev = Some(ts);
        out.push(c);
    }
    if out.is_empty() {
        return Err(CsvError::Empty { path: name.into() });
    }
    Ok(out)
}

/// Writes candles in the same format (used by `optimize` exports and the tests).
pub fn write_candles<W: std::io::Write>(w: W, candles: &[Candle]) -> std::io::Result<()> {
    let mut wtr = csv::Writer::from_writer(w);
    wtr.write_record(COLUMNS)?;
    for c in candles {
        wtr.write_record([
            c.open_time.to_string(),
            c.open.to_string(),
            c.high.to_string(),
            c.low.to_string(),
            c.close.to_string(),
            c.volume.to_string(),
        ])?;
    }
    wtr.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_roundtrips() {
        let src = "ts_ms,open,high,low,close,volume\n1498906800000,1.5,2,1,1.75,3\n1498910400000,1.75,1.8,1.7,1.7,0\n";
        let c = read_candles(src.as_bytes(), "x.csv").unwrap();
        assert_eq!(c.len(), 2);
        let mut out = Vec::new();
        write_candles(&mut out, &c).unwrap();
        assert_eq!(read_candles(out.as_slice(), "y").unwrap(), c);
    }

    #[test]
    fn errors_name_file_line_field() {
        let src = "ts_ms,open,high,low,close,volume\n1498906800000,1.5,2,1,1.75,3\n1498910400000,abc,1.8,1.7,1.7,0\n";
        let e = read_candles(src.as_bytes(), "x.csv")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "x.csv:3: field `open`: `abc` is not a number");
        let src = "ts_ms,open,high,low,close,volume\n1498906800000,1.5,2,1,1.75,3\n1498906800000,1.5,2,1,1.75,3\n";
        let e = read_candles(src.as_bytes(), "x.csv")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.csv:3: field `ts_ms`"), "{e}");
        let src = "ts_ms,open,high,low,close,volume\n1498906800,1.5,2,1,1.75,3\n";
        let e = read_candles(src.as_bytes(), "x.csv")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("x.csv:2: field `ts_ms`: 1498906800 is not a Unix time in milliseconds (it looks like seconds"),
            "{e}"
        );
        let e = read_candles("a,b\n".as_bytes(), "x.csv")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.csv:1: header"), "{e}");
    }

    #[test]
    fn reads_bundled_file() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/coinbase_btcusd_1h.csv");
        let c = read_candles_csv(&p).unwrap();
        assert_eq!(c.len(), 20_111);
        assert_eq!(c[0].open_time, 1498906800000);
    }
}
