//! SQLite store (filled in by the foundation work).
