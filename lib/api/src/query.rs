//! Query strings: every parameter a route accepts is declared; an unknown, repeated or malformed
//! one is a 422 naming it (a typo is never silently ignored).

use crate::error::{ApiError, ApiResult};
use std::collections::BTreeMap;

/// The decoded query of one request, checked against the route's parameter names.
#[derive(Debug, Default)]
pub struct Params {
    values: BTreeMap<String, String>,
}

impl Params {
    /// Parses `raw` (`a=1&b=x`, percent/plus decoded); `allowed` names every accepted key.
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> ApiResult<Params> {
        let mut values = BTreeMap::new();
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if !allowed.contains(&k.as_ref()) {
                let shown: String = k.chars().take(40).collect();
                return Err(ApiError::param(
                    &shown,
                    format!(
                        "unknown (this route accepts: {})",
                        if allowed.is_empty() {
                            "none".to_string()
                        } else {
                            allowed.join(", ")
                        }
                    ),
                ));
            }
            if values.insert(k.to_string(), v.to_string()).is_some() {
                return Err(ApiError::param(&k, "given more than once"));
            }
        }
        Ok(Params { values })
    }

    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// A non-empty string, or `None` when absent.
    pub fn str(&self, name: &str) -> ApiResult<Option<String>> {
        match self.values.get(name) {
            None => Ok(None),
            Some(v) if v.is_empty() => Err(ApiError::param(name, "empty")),
            Some(v) if v.len() > 200 => Err(ApiError::param(name, "longer than 200 bytes")),
            Some(v) => Ok(Some(v.clone())),
        }
    }

    pub fn required(&self, name: &str) -> ApiResult<String> {
        self.str(name)?
            .ok_or_else(|| ApiError::param(name, "required"))
    }

    /// An integer in `lo..=hi`, `default` when absent.
    pub fn int(
        &self,
        name: &str,
        default: Option<i64>,
        lo: i64,
        hi: i64,
    ) -> ApiResult<Option<i64>> {
        match self.values.get(name) {
            None => Ok(default),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (lo..=hi).contains(&n) => Ok(Some(n)),
                _ => Err(ApiError::param(
                    name,
                    format!(
                        "must be an integer {lo}..={hi} (got `{}`)",
                        v.chars().take(40).collect::<String>()
                    ),
                )),
            },
        }
    }

    /// `1`/`true` or `0`/`false`, `default` when absent.
    pub fn bool(&self, name: &str, default: bool) -> ApiResult<bool> {
        match self.values.get(name).map(String::as_str) {
            None => Ok(default),
            Some("1" | "true") => Ok(true),
            Some("0" | "false") => Ok(false),
            Some(v) => Err(ApiError::param(
                name,
                format!(
                    "must be 1, true, 0 or false (got `{}`)",
                    v.chars().take(40).collect::<String>()
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_repeated_bad() {
        let e = Params::parse(Some("limit=1&lmit=2"), &["limit"]).unwrap_err();
        assert!(e.message.contains("`lmit`"), "{e}");
        let e = Params::parse(Some("limit=1&limit=2"), &["limit"]).unwrap_err();
        assert!(e.message.contains("more than once"), "{e}");
        let p = Params::parse(Some("limit=abc"), &["limit"]).unwrap();
        let e = p.int("limit", Some(5), 1, 10).unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            e.message.contains("`limit`") && e.message.contains("abc"),
            "{e}"
        );
        let p = Params::parse(Some("limit=7&s=a%20b"), &["limit", "s"]).unwrap();
        assert_eq!(p.int("limit", None, 1, 10).unwrap(), Some(7));
        assert_eq!(p.str("s").unwrap().as_deref(), Some("a b"));
        assert!(p.int("limit", None, 1, 5).is_err());
    }
}
