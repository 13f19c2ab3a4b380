//! Certifica's Lambda functions behind API Gateway (HTTP API v2): each
//! binary answers its own route group ([`Function`]) with the shared
//! [`certifica_api::Api`] over the AWS adapters; `stamp-on-upload`
//! ([`upload`]) handles the S3 inbox's ObjectCreated events.
//!
//! Identity comes from the API Gateway JWT authorizer's claims in the
//! request context (already verified by API Gateway): `sub`, `email`,
//! `institution` and `permissions` (also accepted with Cognito's `custom:`
//! prefix). The public verification route needs none.
//!
//! Configuration, read once per process by [`Settings::from_env`]:
//!
//! | variable | meaning |
//! |---|---|
//! | `CERTIFICA_TABLE` | DynamoDB table |
//! | `CERTIFICA_BUCKET` | S3 bucket for documents |
//! | `CERTIFICA_SENDER` / `CERTIFICA_SENDER_NAME` | SES identity mail comes from |
//! | `CERTIFICA_VERIFY_BASE_URL` | public verification page (the folio is appended) |
//! | `CERTIFICA_CURSOR_KEY` | base64, ≥ 32 bytes: seals pagination cursors |
//! | `CERTIFICA_SEAL_KEY` | base64, 32 bytes: seals signers' e.firma passwords |
//! | `CERTIFICA_STAMPER` | `simulated` (the only authority reachable from here; dev stages) |
//! | `CERTIFICA_AWS_ENDPOINT` | optional emulator endpoint |

pub use certifica_api::Function;

pub mod upload;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use certifica_api::{Adapters, Api, Config};
use certifica_aws::{DynamoRecords, S3Artifacts, SesMailer};
use certifica_core::identity::{AccessError, Identity};
use certifica_core::mail::Sender;
use certifica_core::secretbox::SecretBox;
use certifica_core::stamping::LocalAuthority;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use std::sync::Arc;

/// The AWS adapters.
pub struct Aws;

impl Adapters for Aws {
    type Records = DynamoRecords;
    type Artifacts = S3Artifacts;
    type Stamper = LocalAuthority;
    type Mailer = SesMailer;
}

/// Why a function cannot start (a deployment mistake, reported in the logs).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("falta la variable de entorno {0}")]
    Missing(&'static str),
    #[error("la variable {0} no es válida: {1}")]
    Invalid(&'static str, String),
    #[error("no se pudo preparar el servicio: {0}")]
    Setup(String),
}

/// What a function reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub table: String,
    pub bucket: String,
    pub sender: Sender,
    pub verify_base_url: String,
    pub cursor_key: Vec<u8>,
    pub seal_key: [u8; 32],
}

impl Settings {
    /// From the environment; every problem names the variable.
    pub fn from_env() -> Result<Self, StartError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, StartError> {
        let need = |name: &'static str| get(name).filter(|v| !v.trim().is_empty()).ok_or(StartError::Missing(name));
        let key = |name: &'static str| {
            STANDARD.decode(need(name)?.trim()).map_err(|_| StartError::Invalid(name, "no es base64".into()))
        };
        let cursor_key = key("CERTIFICA_CURSOR_KEY")?;
        if cursor_key.len() < 32 {
            return Err(StartError::Invalid("CERTIFICA_CURSOR_KEY", "debe tener al menos 32 bytes".into()));
        }
        let seal_key: [u8; 32] = key("CERTIFICA_SEAL_KEY")?
            .try_into()
            .map_err(|_| StartError::Invalid("CERTIFICA_SEAL_KEY", "debe tener exactamente 32 bytes".into()))?;
        match need("CERTIFICA_STAMPER")?.as_str() {
            "simulated" => {}
            other => {
                return Err(StartError::Invalid(
                    "CERTIFICA_STAMPER",
                    format!("«{other}»: solo existe la autoridad simulada («simulated»)"),
                ));
            }
        }
        Ok(Settings {
            table: need("CERTIFICA_TABLE")?,
            bucket: need("CERTIFICA_BUCKET")?,
            sender: Sender {
                name: get("CERTIFICA_SENDER_NAME").unwrap_or_else(|| "Certificación electrónica".into()),
                address: need("CERTIFICA_SENDER")?,
            },
            verify_base_url: need("CERTIFICA_VERIFY_BASE_URL")?,
            cursor_key,
            seal_key,
        })
    }
}

/// Builds the API over the AWS clients, once per process.
pub async fn wire_aws(settings: &Settings) -> Result<Api<Aws>, StartError> {
    let setup = |e: &dyn std::fmt::Display| StartError::Setup(e.to_string());
    let records = DynamoRecords::new(certifica_aws::dynamodb_client().await, &settings.table);
    let artifacts = S3Artifacts::new(certifica_aws::s3_client().await, &settings.bucket);
    let mailer = SesMailer::new(certifica_aws::ses_client().await, settings.sender.clone(), None);
    let stamper = LocalAuthority::simulated_sep().map_err(|e| setup(&e))?;
    let secrets = SecretBox::new(&settings.seal_key).map_err(|e| setup(&e))?;
    // Uploaded authority-returned documents are trusted when stamped by the configured authority.
    let config = Config::new(&settings.cursor_key, secrets, settings.verify_base_url.clone())
        .trusting(stamper.certificate().clone());
    Api::new(records, artifacts, stamper, mailer, config).map_err(|e| setup(&e))
}

/// The caller, from the JWT authorizer's claims.
pub fn identity(request: &Request) -> Result<Identity, AccessError> {
    let Some(RequestContext::ApiGatewayV2(ctx)) = request.request_context_ref() else {
        return Err(AccessError::Unauthenticated);
    };
    let claims =
        ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|j| &j.claims).ok_or(AccessError::Unauthenticated)?;
    let claim = |name: &str| claims.get(name).or_else(|| claims.get(&format!("custom:{name}"))).map(String::as_str);
    let sub = claim("sub").ok_or(AccessError::Unauthenticated)?;
    Identity::from_claims(sub, claim("email"), claim("institution"), claim("permissions"))
}

fn request_id(request: &Request) -> String {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    }
    .unwrap_or_else(|| request.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_default())
}

/// Answers one API Gateway request as function `only`.
pub async fn handle<X: Adapters>(api: &Api<X>, request: Request, only: Function) -> Response<Body> {
    let identity = identity(&request);
    let id = request_id(&request);
    let (parts, body) = request.into_parts();
    let body = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        // Any later body kind is treated as binary data.
        #[allow(unreachable_patterns)]
        other => Bytes::from(other.as_ref().to_vec()),
    };
    let response = api.handle(http::Request::from_parts(parts, body), identity, &id, Some(only)).await;
    let (parts, body) = response.into_parts();
    let textual = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json") || ct.starts_with("text/"));
    let body = match (textual, String::from_utf8(body.to_vec())) {
        (true, Ok(text)) => Body::Text(text),
        _ => Body::Binary(body.to_vec()),
    };
    Response::from_parts(parts, body)
}

/// A function's whole life: configuration and clients once, then events.
pub async fn run(only: Function) -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let settings = Settings::from_env()?;
    let api = Arc::new(wire_aws(&settings).await?);
    lambda_http::run(lambda_http::service_fn(move |request: Request| {
        let api = api.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(&api, request, only).await) }
    }))
    .await
}
