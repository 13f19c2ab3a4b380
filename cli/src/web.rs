//! The web client's static files (`web/`), served by `certifica serve` at
//! `/` on the same origin as the API, with the headers the cloud's
//! CloudFront policy sets (content security policy, no sniffing, no framing).

use bytes::Bytes;
use http_body_util::Full;
use std::path::{Path, PathBuf};

/// The `web/` folder of this source tree (the default for `--web`).
pub const DEFAULT_WEB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../web");

/// Scripts, styles and data only from this origin; the API too (same origin).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// The file of `web` that answers `path` (`/` and `…/` are their `index.html`),
/// or `None` for anything outside the folder, hidden, or missing.
pub fn resolve(web: &Path, path: &str) -> Option<PathBuf> {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8().ok()?;
    let mut file = web.to_path_buf();
    for part in decoded.split('/').filter(|p| !p.is_empty()) {
        if part == ".." || part.starts_with('.') || part.contains('\\') {
            return None;
        }
        file.push(part);
    }
    // The tests and their tools stay out of what is served.
    if file.strip_prefix(web).ok()?.starts_with("tests") {
        return None;
    }
    if decoded.ends_with('/') || file.is_dir() {
        file.push("index.html");
    }
    file.is_file().then_some(file)
}

/// The response for a web file.
pub fn file(path: &Path) -> Option<http::Response<Full<Bytes>>> {
    let bytes = std::fs::read(path).ok()?;
    let mut response = http::Response::new(Full::new(Bytes::from(bytes)));
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type(path)));
    // The files change with every edit of the client: always revalidated.
    headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-cache"));
    headers.insert("content-security-policy", http::HeaderValue::from_static(CSP));
    headers.insert("x-content-type-options", http::HeaderValue::from_static("nosniff"));
    headers.insert("x-frame-options", http::HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", http::HeaderValue::from_static("no-referrer"));
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_inside_the_web_folder_are_served() {
        let web = Path::new(DEFAULT_WEB);
        assert_eq!(resolve(web, "/"), Some(web.join("index.html")));
        assert_eq!(resolve(web, "/verificar/"), Some(web.join("verificar/index.html")));
        assert_eq!(resolve(web, "/verificar"), Some(web.join("verificar/index.html")));
        assert_eq!(resolve(web, "/js/app.js"), Some(web.join("js/app.js")));
        for outside in
            ["/../Cargo.toml", "/%2e%2e/Cargo.toml", "/.git/config", "/tests/package.json", "/no-existe.html"]
        {
            assert_eq!(resolve(web, outside), None, "{outside}");
        }
    }
}
