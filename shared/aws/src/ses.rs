//! Mail through SES (v2): the MIME message built by the domain
//! (`mail-builder`) sent raw, so attachments and Spanish headers arrive as
//! built. Throttling is answered with backoff by the client's retry policy
//! ([`mail_retry_config`]); what still fails is reported as retryable
//! (`Unavailable`) or final (`Rejected`).

use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::config::retry::RetryConfig;
use aws_sdk_sesv2::error::{DisplayErrorContext, SdkError};
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{EmailContent, RawMessage};
use certifica_core::mail::{Mail, MailError, Sender, SentMail};
use certifica_core::ports::Mailer;
use chrono::Utc;
use std::time::Duration;

/// Attempts per message, throttled ones included.
pub const MAIL_ATTEMPTS: u32 = 6;

/// The retry policy of the SES client: SES answers `TooManyRequests` when
/// the account's sending rate (messages per second) is exceeded, so retry
/// with jittered exponential backoff starting at `initial_backoff` (one
/// second in production) up to [`MAIL_ATTEMPTS`] attempts.
pub fn mail_retry_config(initial_backoff: Duration) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAIL_ATTEMPTS)
        .with_initial_backoff(initial_backoff)
        .with_max_backoff(Duration::from_secs(20))
}

/// Sends [`Mail`] from one verified identity.
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: Client,
    sender: Sender,
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(client: Client, sender: Sender, configuration_set: Option<String>) -> Self {
        SesMailer { client, sender, configuration_set }
    }
}

impl Mailer for SesMailer {
    async fn send(&self, mail: &Mail) -> Result<SentMail, MailError> {
        let id = format!("{}@certifica", uuid::Uuid::new_v4().simple());
        let raw = mail.to_mime(&self.sender, &id, Utc::now())?;
        let content = EmailContent::builder()
            .raw(RawMessage::builder().data(Blob::new(raw)).build().map_err(|e| MailError::Rejected(e.to_string()))?)
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(&self.sender.address)
            // Recipients come from the message's checked To header (a raw
            // message needs no separate destination list).
            .content(content)
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await;
        match out {
            Ok(out) => Ok(SentMail { message_id: out.message_id().unwrap_or(&id).to_string() }),
            Err(SdkError::ServiceError(e)) => {
                let e = e.into_err();
                let text = DisplayErrorContext(&e).to_string();
                // Throttled after every retry, or over the daily quota: try again later.
                if e.is_too_many_requests_exception() || e.is_limit_exceeded_exception() {
                    Err(MailError::Unavailable(text))
                } else {
                    Err(MailError::Rejected(text))
                }
            }
            Err(other) => Err(MailError::Unavailable(DisplayErrorContext(other).to_string())),
        }
    }
}
