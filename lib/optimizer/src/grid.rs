//! Parameter grids: re-exported from [`scalp_strategy::grid`], where they sit next to the
//! parameter declarations they are validated against (so that every `--check-config` can
//! validate `param_grids.toml` without the optimizer).

pub use scalp_strategy::grid::*;
