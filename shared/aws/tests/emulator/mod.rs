//! The adapters over moto server on 127.0.0.1, started by `scripts/test.sh`
//! (which sets `CERTIFICA_TEST_AWS_ENDPOINT`). Never real AWS.
#![allow(dead_code)]

use aws_sdk_dynamodb::config::{
    BehaviorVersion, Credentials, Region, StalledStreamProtectionConfig, timeout::TimeoutConfig,
};
use certifica_aws::{DynamoRecords, S3Artifacts};
use std::time::Duration;
use tokio::sync::OnceCell;

/// One table for the whole test binary (the checks use fresh tenants).
pub async fn records() -> DynamoRecords {
    static STORE: OnceCell<DynamoRecords> = OnceCell::const_new();
    STORE
        .get_or_init(|| async {
            let endpoint = std::env::var("CERTIFICA_TEST_AWS_ENDPOINT").expect(
                "CERTIFICA_TEST_AWS_ENDPOINT is not set: run the tests with scripts/test.sh, which starts the AWS emulator (moto) on 127.0.0.1",
            );
            assert!(endpoint.starts_with("http://127.0.0.1:"), "the emulator must be local: {endpoint}");
            let config = aws_sdk_dynamodb::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .endpoint_url(endpoint)
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("test", "test", None, None, "emulator"))
                // An emulator that never answers fails the test instead of hanging it. The
                // single-threaded emulator queues hundreds of concurrent connections in its
                // listen backlog, so connecting may wait longer than the SDK's default 3.1 s.
                .timeout_config(
                    TimeoutConfig::builder()
                        .connect_timeout(Duration::from_secs(60))
                        .operation_timeout(Duration::from_secs(120))
                        .build(),
                )
                // A request queued behind a hundred others gets no byte for seconds;
                // that is the emulator's queue, not a stalled stream (the operation
                // timeout above still ends a real hang).
                .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
                .build();
            let store = DynamoRecords::new(aws_sdk_dynamodb::Client::from_conf(config), format!("certifica-{}", uuid::Uuid::new_v4().simple()));
            store.create_table().await.expect("create table");
            store
        })
        .await
        .clone()
}

/// One bucket for the whole test binary.
pub async fn documents() -> S3Artifacts {
    static STORE: OnceCell<S3Artifacts> = OnceCell::const_new();
    STORE
        .get_or_init(|| async {
            let endpoint = std::env::var("CERTIFICA_TEST_AWS_ENDPOINT")
                .expect("CERTIFICA_TEST_AWS_ENDPOINT is not set: run the tests with scripts/test.sh, which starts moto on 127.0.0.1");
            assert!(endpoint.starts_with("http://127.0.0.1:"), "the emulator must be local: {endpoint}");
            let config = aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .endpoint_url(endpoint)
                .region(aws_sdk_s3::config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_s3::config::Credentials::new("test", "test", None, None, "emulator"))
                .force_path_style(true)
                .timeout_config(aws_sdk_s3::config::timeout::TimeoutConfig::builder().operation_timeout(Duration::from_secs(20)).build())
                .build();
            let store = S3Artifacts::new(aws_sdk_s3::Client::from_conf(config), format!("certifica-{}", uuid::Uuid::new_v4().simple()));
            store.create_bucket().await.expect("bucket");
            store
        })
        .await
        .clone()
}

/// What a scripted endpoint answers: HTTP status line, `x-amzn-ErrorType` (empty: none), JSON body.
pub type Answer = (&'static str, &'static str, String);

/// A local endpoint standing in for an AWS service whose answers a test
/// scripts: `answer(n, target)` gets the request's number (0-based) and its
/// `x-amz-target` header (empty for REST services). Counts requests.
pub async fn scripted_endpoint<F>(answer: F) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>)
where
    F: Fn(usize, &str) -> Answer + Send + Sync + 'static,
{
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (counter, answer) = (seen.clone(), std::sync::Arc::new(answer));
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            tokio::spawn(async move {
                // Read the request head and its body.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let (body_len, target) = loop {
                    let read = socket.read(&mut chunk).await.unwrap_or(0);
                    if read == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..read]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let header = |name: &str| {
                            head.lines()
                                .find_map(|l| l.strip_prefix(name))
                                .map(|v| v.trim().to_string())
                                .unwrap_or_default()
                        };
                        let len = header("content-length:").parse::<usize>().unwrap_or(0);
                        break (end + 4 + len, header("x-amz-target:"));
                    }
                };
                while buf.len() < body_len {
                    let read = socket.read(&mut chunk).await.unwrap_or(0);
                    if read == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..read]);
                }
                let (status, kind, body) = answer(n, &target);
                let error_type = if kind.is_empty() { String::new() } else { format!("x-amzn-ErrorType: {kind}\r\n") };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{error_type}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (url, seen)
}
