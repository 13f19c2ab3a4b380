//! Cold start of every function binary, against a minimal local Lambda
//! Runtime API (this harness): the time from process start to its first
//! `GET …/invocation/next` (configuration read, AWS clients built, keys
//! derived — ready for an event), the first invocation's
//! latency (an event that needs no AWS call: an unknown route, or an S3
//! event without records), peak RSS, and the binary's size, stripped and
//! zipped as Lambda receives it.
//!
//! Run (release binaries: fat LTO, stripped, as deployed):
//!   cargo build --release --workspace --bins && cargo bench -p certifica-functions --bench coldstart
//! (docs/performance.md builds every bench once with `--workspace`: a `-p`
//! build unifies features differently and rebuilds the dependency tree)
//! `COLD_RUNS` sets the runs per function (default 10).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const FUNCTIONS: [&str; 9] = [
    "list-certificates",
    "manage-records",
    "issue-certificates",
    "cancel-certificates",
    "download-certificates",
    "email-certificates",
    "verify",
    "stamp-on-upload",
    "jobs-worker",
];

/// One HTTP request read from the runtime client: (request line, body).
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        if header == "\r\n" || header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((line.trim().to_string(), body))
}

fn respond(stream: &mut TcpStream, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/json\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
}

fn event(function: &str) -> Vec<u8> {
    if function == "stamp-on-upload" || function == "jobs-worker" {
        return br#"{"Records":[]}"#.to_vec();
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/list-schools.json");
    let mut e: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(root).unwrap()).unwrap();
    e["rawPath"] = "/v1/nada".into();
    e["requestContext"]["http"]["path"] = "/v1/nada".into();
    // Through the deployment's own API (see CERTIFICA_API_TAG below).
    e["stageVariables"] = serde_json::json!({"certifica": "coldstart"});
    e.to_string().into_bytes()
}

struct Run {
    init: Duration,
    first: Duration,
    peak_rss_kb: u64,
}

fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn cold_start(binary: &PathBuf, function: &str) -> Run {
    // issue reads its signers' CAs at start, as from the TrustAnchors layer in AWS.
    let demo_ca = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets/trust/demo/ac-pruebas-certifica.pem")
        .display()
        .to_string();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let api = listener.local_addr().unwrap().to_string();
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .envs([
            ("AWS_LAMBDA_RUNTIME_API", api.as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", function),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "local"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "local"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            // Never contacted: the events need no AWS call.
            ("CERTIFICA_AWS_ENDPOINT", "http://127.0.0.1:9"),
            ("CERTIFICA_TABLE", "certifica"),
            ("CERTIFICA_BUCKET", "certifica"),
            ("CERTIFICA_VERIFY_BASE_URL", "https://certifica.example/v1/verify/"),
            ("CERTIFICA_SENDER", "certificados@escuela.mx"),
            ("CERTIFICA_CURSOR_KEY", key),
            ("CERTIFICA_SEAL_KEY", key),
            ("CERTIFICA_STAMPER", "simulated"),
            ("CERTIFICA_API_TAG", "coldstart"),
            ("CERTIFICA_SIGNER_CAS", demo_ca.as_str()),
            ("CERTIFICA_JOBS_QUEUE", "http://127.0.0.1:9/000000000000/trabajos"),
            ("CERTIFICA_MAIL_PER_SECOND", "14"),
            ("CERTIFICA_JOB_WORKERS", "2"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (stream, _) = listener.accept().unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let (line, _) = read_request(&mut reader).expect("the runtime asks for an event");
    let init = started.elapsed();
    assert!(line.contains("/runtime/invocation/next"), "{line}");
    let deadline = (std::time::SystemTime::now() + Duration::from_secs(30))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let sent = Instant::now();
    let mut out = stream;
    respond(
        &mut out,
        &[
            ("Lambda-Runtime-Aws-Request-Id", "primera".into()),
            ("Lambda-Runtime-Deadline-Ms", deadline.to_string()),
            (
                "Lambda-Runtime-Invoked-Function-Arn",
                format!("arn:aws:lambda:us-east-1:123456789012:function:{function}"),
            ),
        ],
        &event(function),
    );
    // The answer may come on this connection or a new one: poll both.
    listener.set_nonblocking(true).unwrap();
    reader.get_ref().set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    let first = loop {
        if let Some((line, _)) = read_request(&mut reader) {
            if line.contains("/invocation/primera/") {
                assert!(line.contains("/response"), "{function} answered with an error: {line}");
                break sent.elapsed();
            }
        } else if let Ok((s, _)) = listener.accept() {
            s.set_nonblocking(false).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
            reader = BufReader::new(s);
        }
        assert!(sent.elapsed() < Duration::from_secs(10), "{function}: no answer");
    };
    let peak_rss_kb = peak_rss_kb(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    Run { init, first, peak_rss_kb }
}

fn zipped_size(binary: &PathBuf) -> u64 {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("bootstrap", options).unwrap();
    zip.write_all(&std::fs::read(binary).unwrap()).unwrap();
    zip.finish().unwrap().into_inner().len() as u64
}

fn main() {
    let runs: usize = std::env::var("COLD_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf();
    println!("arranque en frío ({runs} por función; binarios de {}):", dir.display());
    println!(
        "  {:<22} {:>9} {:>9} {:>9} {:>10} {:>8} {:>9} {:>9}",
        "función", "init p50", "init máx", "1.ª inv.", "RSS máx", "binario", "zip", "≤ 3 MB"
    );
    for function in FUNCTIONS {
        let binary = dir.join(function);
        assert!(binary.exists(), "{} is missing: cargo build --release --workspace --bins", binary.display());
        let mut all: Vec<Run> = (0..runs).map(|_| cold_start(&binary, function)).collect();
        all.sort_by_key(|r| r.init);
        let median = &all[all.len() / 2];
        let mut firsts: Vec<Duration> = all.iter().map(|r| r.first).collect();
        firsts.sort();
        let rss = all.iter().map(|r| r.peak_rss_kb).max().unwrap_or(0);
        let size = std::fs::metadata(&binary).unwrap().len();
        let zipped = zipped_size(&binary);
        println!(
            "  {function:<22} {:>7.1}ms {:>7.1}ms {:>7.1}ms {:>8.1}MB {:>6.2}MB {:>7.2}MB {:>9}",
            median.init.as_secs_f64() * 1000.0,
            all.last().unwrap().init.as_secs_f64() * 1000.0,
            firsts[firsts.len() / 2].as_secs_f64() * 1000.0,
            rss as f64 / 1024.0,
            size as f64 / 1_048_576.0,
            zipped as f64 / 1_048_576.0,
            if zipped <= 3 * 1_048_576 { "cumple" } else { "NO" }
        );
    }
    println!("  presupuesto de init: ≤ 30 ms con los clientes de AWS construidos");
}
