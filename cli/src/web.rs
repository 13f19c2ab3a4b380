//! The web client's static files (`web/`), served by `certifica serve` at
//! `/` on the same origin as the API, with the headers the cloud's
//! CloudFront policy sets (content security policy, no sniffing, no framing).

use bytes::Bytes;
use http_body_util::Full;
use std::path::{Path, PathBuf};

/// The `web/` folder of this source tree (the default for `--web`).
pub const DEFAULT_WEB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../web");

/// The content security policy of the client in `web`: scripts, styles and
/// images only from this origin; requests to it, to the API and to the
/// sign-in service that `config.json` names (absent or unreadable: this
/// origin alone).
pub fn content_security_policy(web: &Path) -> String {
    let config: serde_json::Value = std::fs::read(web.join("config.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let origin = |url: &str| {
        let (scheme, rest) = url.split_once("://")?;
        let host = rest.split('/').next()?;
        let safe = matches!(scheme, "http" | "https")
            && !host.is_empty()
            && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        safe.then(|| format!("{scheme}://{host}"))
    };
    let mut connect = vec!["'self'".to_string()];
    for url in [&config["apiBase"], &config["auth"]["domain"]].into_iter().filter_map(|v| v.as_str()) {
        if let Some(o) = origin(url).filter(|o| !connect.contains(o)) {
            connect.push(o);
        }
    }
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src {}; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        connect.join(" ")
    )
}

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

/// The response for the file at `path` of the client in `web` (its policy
/// read from `config.json` each time: an edit applies on the next reload).
pub fn file(web: &Path, path: &Path) -> Option<http::Response<Full<Bytes>>> {
    let bytes = std::fs::read(path).ok()?;
    let mut response = http::Response::new(Full::new(Bytes::from(bytes)));
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type(path)));
    // The files change with every edit of the client: always revalidated.
    headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-cache"));
    if let Ok(csp) = http::HeaderValue::from_str(&content_security_policy(web)) {
        headers.insert("content-security-policy", csp);
    }
    headers.insert("x-content-type-options", http::HeaderValue::from_static("nosniff"));
    headers.insert("x-frame-options", http::HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", http::HeaderValue::from_static("no-referrer"));
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_lets_the_client_reach_only_its_api_and_sign_in_service() {
        let dir = tempfile::tempdir().unwrap();
        assert!(content_security_policy(dir.path()).contains("connect-src 'self';"), "no config: this origin");
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"apiBase": "https://api.example.mx/v1", "auth": {"mode": "cognito", "domain": "https://login.example.mx"}}"#,
        )
        .unwrap();
        let csp = content_security_policy(dir.path());
        assert!(csp.contains("connect-src 'self' https://api.example.mx https://login.example.mx;"), "{csp}");
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"apiBase": "javascript:alert(1)", "auth": {"domain": "https://a b"}}"#,
        )
        .unwrap();
        assert!(content_security_policy(dir.path()).contains("connect-src 'self';"));
    }

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
