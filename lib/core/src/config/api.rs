use super::ConfigError;
use serde::{Deserialize, Serialize};

/// `[api]`: scalp-api (REST, `/ws/live`, the dashboard's static files; docs/API.md). Its key is
/// `SCALP_API_KEY` in `secrets.env`, never in this file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// IP:port; keep 127.0.0.1 unless exposed behind a firewall / reverse proxy.
    pub listen: String,
    /// The built dashboard (index.html + assets); relative to the config directory.
    pub web_dir: String,
    /// Extra origins allowed by CORS (`scheme://host[:port]`); empty = same origin only.
    pub cors_origins: Vec<String>,
}

/// Where the .deb installs the dashboard.
pub const DEFAULT_WEB_DIR: &str = "/usr/share/scalp-radar/web";

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: "127.0.0.1:8000".into(),
            web_dir: DEFAULT_WEB_DIR.into(),
            cors_origins: Vec::new(),
        }
    }
}

impl ApiConfig {
    pub fn validate(&self, file: &str, text: &str) -> Result<(), ConfigError> {
        let err = |key: &str, msg: String| ConfigError::invalid(file, Some(text), key, msg);
        if let Err(e) = self.listen.parse::<std::net::SocketAddr>() {
            return Err(err(
                "api.listen",
                format!("`{}` is not an IP:port address ({e})", self.listen),
            ));
        }
        if self.web_dir.trim().is_empty() {
            return Err(err(
                "api.web_dir",
                "must not be empty (the dashboard directory)".into(),
            ));
        }
        for (i, o) in self.cors_origins.iter().enumerate() {
            if let Some(why) = bad_origin(o) {
                return Err(err("api.cors_origins", format!("entry {i} `{o}`: {why}")));
            }
        }
        Ok(())
    }
}

/// Why `o` is not an origin (`http(s)://host[:port]`, no path), or `None`.
fn bad_origin(o: &str) -> Option<&'static str> {
    let rest = o
        .strip_prefix("http://")
        .or_else(|| o.strip_prefix("https://"));
    let Some(rest) = rest else {
        return Some("must start with http:// or https://");
    };
    if rest.is_empty() {
        return Some("has no host");
    }
    if rest.contains('/') || rest.contains('?') || rest.contains('#') {
        return Some("an origin has no path, query or fragment (e.g. `http://192.168.1.20:5173`)");
    }
    if rest.chars().any(|c| c.is_whitespace()) {
        return Some("contains whitespace");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert!(bad_origin("http://localhost:5173").is_none());
        assert!(bad_origin("https://a.b").is_none());
        assert!(bad_origin("localhost:5173").is_some());
        assert!(bad_origin("http://a/b").is_some());
        assert!(bad_origin("http://").is_some());
    }
}
