//! Support for the end-to-end tests: start `certifica serve --demo` on a
//! free local port and talk plain HTTP/1.1 to it (one connection per
//! request), as curl would.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The `certifica` binary built with the workspace (beside the test's own `deps/`).
pub fn certifica_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe.parent().and_then(Path::parent).expect("target directory");
    dir.join(format!("certifica{}", std::env::consts::EXE_SUFFIX))
}

/// A running local server; stopped when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    pub token: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `certifica serve --demo --data DATA --addr 127.0.0.1:0`, waiting for its URL and token.
    pub fn start_demo(data: &Path) -> Server {
        Self::start_demo_with(data, &[])
    }

    /// The same with more arguments for `certifica serve`.
    pub fn start_demo_with(data: &Path, extra: &[&std::ffi::OsStr]) -> Server {
        Self::start(data, extra, Stdio::inherit())
    }

    /// `start_demo` with the server's log (its stderr) written to `log`.
    pub fn start_demo_logging(data: &Path, log: &Path) -> Server {
        let file = std::fs::File::create(log).expect("server log file");
        Self::start(data, &[], Stdio::from(file))
    }

    fn start(data: &Path, extra: &[&std::ffi::OsStr], stderr: Stdio) -> Server {
        let binary = certifica_binary();
        assert!(
            binary.exists(),
            "{} is missing: `cargo test --workspace` builds it; alone, run `cargo build -p certifica-cli` first",
            binary.display()
        );
        let mut child = Command::new(binary)
            .args(["serve", "--demo", "--addr", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start certifica serve");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let (mut base, mut token) = (None, None);
        while let Some(Ok(line)) = lines.next() {
            if let Some(url) = line.strip_prefix("Certifica escucha en ") {
                base = Some(url.trim().to_string());
            } else if line.starts_with("eyJ") {
                token = Some(line.trim().to_string());
                break;
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, base: base.expect("server URL"), token: token.expect("demo token") }
    }
}

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One request to `url` (`http://127.0.0.1:PORT/path`), with optional headers and JSON body.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&serde_json::Value>) -> Reply {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut stream = TcpStream::connect(host).expect("connect");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write");
    stream.write_all(body.as_bytes()).expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("response head");
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status");
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))).collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Reply { status, headers, body }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..line_end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
    out
}
