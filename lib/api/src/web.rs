//! The dashboard's static files from `[api].web_dir`, with the SPA fallback to `index.html`.
//! A request path is percent-decoded, then checked component by component: `..`, `.`, empty
//! components, backslashes, `:` and NUL are refused, so no path ever leaves `web_dir`.

use crate::error::ApiError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::path::{Path, PathBuf};

/// Percent-decodes a URI path; `None` for a malformed escape or non-UTF-8 result.
pub fn percent_decode(p: &str) -> Option<String> {
    let b = p.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = b.get(i + 1..i + 3)?;
            let s = std::str::from_utf8(h).ok()?;
            out.push(u8::from_str_radix(s, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The relative file path for a request path, or `None` if it could escape `web_dir`.
pub fn safe_relative(path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(path)?;
    let mut rel = PathBuf::new();
    for comp in decoded.split('/') {
        if comp.is_empty() {
            continue;
        }
        if comp == "."
            || comp == ".."
            || comp.contains('\\')
            || comp.contains(':')
            || comp.contains('\0')
        {
            return None;
        }
        rel.push(comp);
    }
    Some(rel)
}

fn content_type(p: &Path) -> &'static str {
    match p.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

fn not_installed(web_dir: &Path) -> Response {
    ApiError::not_found(format!(
        "dashboard not installed: {} not found ([api].web_dir)",
        web_dir.join("index.html").display()
    ))
    .into_response()
}

async fn file(p: &Path, cache: bool) -> Option<Response> {
    let meta = tokio::fs::metadata(p).await.ok()?;
    if !meta.is_file() {
        return None;
    }
    let body = tokio::fs::read(p).await.ok()?;
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(p)),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if cache {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Some(r)
}

/// Answers a GET for `path` (the raw, still percent-encoded URI path).
pub async fn serve(web_dir: &Path, path: &str) -> Response {
    let index = web_dir.join("index.html");
    let Some(rel) = safe_relative(path) else {
        return ApiError::not_found(format!(
            "no such file: {}",
            path.chars().take(200).collect::<String>()
        ))
        .into_response();
    };
    if !rel.as_os_str().is_empty() {
        let p = web_dir.join(&rel);
        // Vite's hashed assets live under assets/: cache them for good.
        let hashed = rel.starts_with("assets");
        if let Some(r) = file(&p, hashed).await {
            return r;
        }
        // A missing file with an extension is a 404; a route-like path is the SPA's.
        if rel.extension().is_some() {
            if !index.is_file() {
                return not_installed(web_dir);
            }
            return ApiError::not_found(format!("no such file: /{}", rel.display()))
                .into_response();
        }
    }
    match file(&index, false).await {
        Some(r) => r,
        None => not_installed(web_dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_refused() {
        assert_eq!(safe_relative("/a/b.js"), Some(PathBuf::from("a/b.js")));
        assert_eq!(safe_relative("/"), Some(PathBuf::new()));
        for bad in [
            "/../etc/passwd",
            "/a/../../x",
            "/%2e%2e/x",
            "/%2E%2E%2fetc%2fpasswd",
            "/a%5c..%5cx",
            "/C:/x",
            "/a%00b",
            "/%zz",
            "/./x",
        ] {
            assert_eq!(safe_relative(bad), None, "{bad}");
        }
    }
}
