//! The SES adapter: a mail with attachments sent through moto (its own
//! instance on 127.0.0.1, started by `scripts/test.sh`) is read back from
//! the emulator's record of sent messages; throttling is answered with
//! backoff, shown against a local endpoint that throttles on purpose.

mod emulator;

use aws_sdk_sesv2::config::{BehaviorVersion, Credentials, Region, timeout::TimeoutConfig};
use certifica_aws::{MAIL_ATTEMPTS, SesMailer, mail_retry_config};
use certifica_conformance::{Delivered, certificate_mail};
use certifica_core::mail::{MailError, Sender};
use certifica_core::ports::Mailer;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn client(endpoint: &str, initial_backoff: Duration) -> aws_sdk_sesv2::Client {
    assert!(endpoint.starts_with("http://127.0.0.1:"), "the emulator must be local: {endpoint}");
    let config = aws_sdk_sesv2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "emulator"))
        .retry_config(mail_retry_config(initial_backoff))
        .timeout_config(TimeoutConfig::builder().operation_timeout(Duration::from_secs(30)).build())
        .build();
    aws_sdk_sesv2::Client::from_conf(config)
}

fn sender() -> Sender {
    Sender { name: "Certificación — Universidad del Valle".into(), address: "certificados@uva.edu.mx".into() }
}

/// Every raw message moto recorded, from `GET /moto-api/data.json`.
fn sent_messages(endpoint: &str) -> Vec<Delivered> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())",
            &format!("{endpoint}/moto-api/data.json"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let data: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let messages = data["ses"]["RawMessage"].as_array().cloned().unwrap_or_default();
    messages
        .iter()
        .map(|m| Delivered {
            recipients: m["destinations"]
                .as_array()
                .map(|d| d.iter().filter_map(|x| x.as_str()).map(str::to_string).collect())
                .unwrap_or_default(),
            raw: m["raw_data"].as_str().unwrap_or_default().as_bytes().to_vec(),
        })
        .collect()
}

#[tokio::test]
async fn a_mail_with_attachments_is_sent_raw_through_ses() {
    let endpoint = std::env::var("CERTIFICA_TEST_SES_ENDPOINT").expect(
        "CERTIFICA_TEST_SES_ENDPOINT is not set: run the tests with scripts/test.sh, which starts moto on 127.0.0.1",
    );
    let client = client(&endpoint, Duration::from_millis(10));
    client.create_email_identity().email_identity(sender().address).send().await.expect("verify the sender");
    let mailer = SesMailer::new(client, sender(), None);
    let delivered = async || sent_messages(&endpoint);
    certifica_conformance::a_mail_with_attachments_reaches_every_recipient(&mailer, &sender(), delivered).await;
}

/// A local endpoint that answers SES `TooManyRequests` to the first
/// `throttled` requests and accepts the rest; counts requests.
async fn throttling_endpoint(throttled: usize) -> (String, Arc<AtomicUsize>) {
    emulator::scripted_endpoint(move |n, _| {
        if n < throttled {
            (
                "429 Too Many Requests",
                "TooManyRequestsException",
                r#"{"message":"Maximum sending rate exceeded."}"#.to_string(),
            )
        } else {
            ("200 OK", "", r#"{"MessageId":"msg-aceptado"}"#.to_string())
        }
    })
    .await
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_until_accepted() {
    let (url, seen) = throttling_endpoint(3).await;
    let mailer = SesMailer::new(client(&url, Duration::from_millis(20)), sender(), None);
    let sent = mailer.send(&certificate_mail()).await.expect("accepted after backing off");
    assert_eq!(sent.message_id, "msg-aceptado");
    assert_eq!(seen.load(Ordering::SeqCst), 4, "three throttled attempts, then the accepted one");
}

#[tokio::test]
async fn throttling_that_never_ends_is_reported_as_retryable() {
    let (url, seen) = throttling_endpoint(usize::MAX).await;
    let mailer = SesMailer::new(client(&url, Duration::from_millis(5)), sender(), None);
    let err = mailer.send(&certificate_mail()).await.expect_err("throttled");
    assert!(matches!(err, MailError::Unavailable(_)), "{err:?}");
    assert_eq!(err.code(), "correo_no_disponible");
    assert_eq!(seen.load(Ordering::SeqCst), MAIL_ATTEMPTS as usize);
}
