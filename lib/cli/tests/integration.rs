//! The command layer against real files: the bundled CSVs, a real SQLite database in a temp
//! dir. One module per file.

mod backtest;
