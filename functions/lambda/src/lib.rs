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
//! Configuration, read once per process by [`Settings::from_env`]; each
//! function reads only what it uses ([`Lambda::environment`], listed in
//! `functions/lambda/environment.json` and checked against the template):
//!
//! | variable | who | meaning |
//! |---|---|---|
//! | `CERTIFICA_TABLE` | all | DynamoDB table |
//! | `CERTIFICA_BUCKET` | all | S3 bucket for documents and the upload inbox |
//! | `CERTIFICA_VERIFY_BASE_URL` | all | public verification page (the folio is appended) |
//! | `CERTIFICA_SENDER` / `CERTIFICA_SENDER_NAME` | email | SES identity mail comes from |
//! | `CERTIFICA_CURSOR_SECRET` | list | Secrets Manager secret sealing pagination cursors |
//! | `CERTIFICA_SEAL_SECRET` | issue, stamp-on-upload | Secrets Manager secret sealing signers' e.firma passwords |
//! | `CERTIFICA_STAMPER` | issue, stamp-on-upload | `simulated` (the only authority reachable from here; dev stages) |
//! | `CERTIFICA_AWS_ENDPOINT` | optional | an emulator endpoint (tests only) |
//!
//! Outside AWS (tests, an emulator) `CERTIFICA_CURSOR_KEY` / `CERTIFICA_SEAL_KEY`
//! may carry the keys themselves (base64) instead of the secrets' ARNs. A
//! function that does not use a key gets a random one for its lifetime: it
//! can neither read a signer's password nor forge a cursor.

pub use certifica_api::Function;

pub mod upload;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use certifica_api::{Adapters, Api, Config, FunctionRoutes};
use certifica_aws::{DynamoRecords, S3Artifacts, SdkConfig, SesMailer};
use certifica_core::identity::{AccessError, Identity};
use certifica_core::mail::Sender;
use certifica_core::secretbox::SecretBox;
use certifica_core::stamping::LocalAuthority;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use std::sync::Arc;

/// The AWS adapters.
pub type Aws = (DynamoRecords, S3Artifacts, LocalAuthority, SesMailer);

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

/// One of the deployed functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lambda {
    /// A route group of the HTTP API.
    Api(Function),
    /// S3 ObjectCreated events of the inbox.
    StampOnUpload,
}

/// Every function, as deployed (one binary each).
pub const LAMBDAS: [Lambda; 8] = [
    Lambda::Api(Function::ListCertificates),
    Lambda::Api(Function::ManageRecords),
    Lambda::Api(Function::IssueCertificates),
    Lambda::Api(Function::CancelCertificates),
    Lambda::Api(Function::DownloadCertificates),
    Lambda::Api(Function::EmailCertificates),
    Lambda::Api(Function::Verify),
    Lambda::StampOnUpload,
];

impl Lambda {
    /// The binary's (and the template resource's) name.
    pub fn name(self) -> &'static str {
        match self {
            Lambda::Api(f) => f.name(),
            Lambda::StampOnUpload => "stamp-on-upload",
        }
    }

    fn seals(self) -> bool {
        matches!(self, Lambda::Api(Function::IssueCertificates) | Lambda::StampOnUpload)
    }

    fn pages(self) -> bool {
        self == Lambda::Api(Function::ListCertificates)
    }

    fn mails(self) -> bool {
        self == Lambda::Api(Function::EmailCertificates)
    }

    /// The variables this function needs, as the template must set them.
    pub fn environment(self) -> Vec<&'static str> {
        let mut vars = vec!["CERTIFICA_TABLE", "CERTIFICA_BUCKET", "CERTIFICA_VERIFY_BASE_URL"];
        if self.mails() {
            vars.extend(["CERTIFICA_SENDER", "CERTIFICA_SENDER_NAME"]);
        }
        if self.pages() {
            vars.push("CERTIFICA_CURSOR_SECRET");
        }
        if self.seals() {
            vars.extend(["CERTIFICA_SEAL_SECRET", "CERTIFICA_STAMPER"]);
        }
        vars
    }
}

/// Where a key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A Secrets Manager secret (its ARN): the key is derived from its value.
    Secret(String),
    /// The key itself (tests, emulators).
    Inline(Vec<u8>),
    /// This function does not use the key: a random one.
    Unused,
}

/// What a function reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub table: String,
    pub bucket: String,
    /// Only the email function sends mail.
    pub sender: Option<Sender>,
    pub verify_base_url: String,
    pub cursor_key: KeySource,
    pub seal_key: KeySource,
}

impl Settings {
    /// From the environment; every problem names the variable.
    pub fn from_env(lambda: Lambda) -> Result<Self, StartError> {
        Self::from_lookup(lambda, |name| std::env::var(name).ok())
    }

    pub fn from_lookup(lambda: Lambda, get: impl Fn(&str) -> Option<String>) -> Result<Self, StartError> {
        let need = |name: &'static str| get(name).filter(|v| !v.trim().is_empty()).ok_or(StartError::Missing(name));
        let key = |secret: &'static str, inline: &'static str, min: usize, max: usize| {
            if let Some(text) = get(inline).filter(|v| !v.trim().is_empty()) {
                let bytes =
                    STANDARD.decode(text.trim()).map_err(|_| StartError::Invalid(inline, "no es base64".into()))?;
                if bytes.len() < min || bytes.len() > max {
                    return Err(StartError::Invalid(inline, format!("debe tener de {min} a {max} bytes")));
                }
                return Ok(KeySource::Inline(bytes));
            }
            let arn = need(secret)?;
            if !arn.starts_with("arn:") {
                return Err(StartError::Invalid(secret, "debe ser el ARN de un secreto de Secrets Manager".into()));
            }
            Ok(KeySource::Secret(arn))
        };
        let cursor_key = if lambda.pages() {
            key("CERTIFICA_CURSOR_SECRET", "CERTIFICA_CURSOR_KEY", 32, 64)?
        } else {
            KeySource::Unused
        };
        let seal_key = if lambda.seals() {
            key("CERTIFICA_SEAL_SECRET", "CERTIFICA_SEAL_KEY", 32, 32)?
        } else {
            KeySource::Unused
        };
        if lambda.seals() {
            match need("CERTIFICA_STAMPER")?.as_str() {
                "simulated" => {}
                other => {
                    return Err(StartError::Invalid(
                        "CERTIFICA_STAMPER",
                        format!("«{other}»: solo existe la autoridad simulada («simulated»)"),
                    ));
                }
            }
        }
        let sender = if lambda.mails() {
            Some(Sender {
                name: get("CERTIFICA_SENDER_NAME")
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| "Certificación electrónica".into()),
                address: need("CERTIFICA_SENDER")?,
            })
        } else {
            None
        };
        Ok(Settings {
            table: need("CERTIFICA_TABLE")?,
            bucket: need("CERTIFICA_BUCKET")?,
            sender,
            verify_base_url: need("CERTIFICA_VERIFY_BASE_URL")?,
            cursor_key,
            seal_key,
        })
    }
}

/// The key of `source`: a secret's value is stretched with HMAC-SHA256 for
/// `purpose` (any random secret string of ≥ 32 characters makes a full key).
async fn resolve(aws: &SdkConfig, source: &KeySource, purpose: &str) -> Result<Vec<u8>, StartError> {
    match source {
        KeySource::Inline(bytes) => Ok(bytes.clone()),
        KeySource::Unused => {
            let mut bytes = vec![0u8; 32];
            aws_lc_rs::rand::fill(&mut bytes).map_err(|_| StartError::Setup("sin aleatoriedad".into()))?;
            Ok(bytes)
        }
        KeySource::Secret(arn) => {
            let value = certifica_aws::secret_string(aws, arn).await.map_err(|e| StartError::Setup(e.to_string()))?;
            if value.len() < 32 {
                return Err(StartError::Invalid("CERTIFICA_SEAL_SECRET", format!("el secreto {arn} es muy corto")));
            }
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, value.as_bytes());
            Ok(aws_lc_rs::hmac::sign(&key, purpose.as_bytes()).as_ref().to_vec())
        }
    }
}

/// Builds the API over the AWS clients (all from one `aws` configuration),
/// once per process.
pub async fn wire_aws(settings: &Settings, aws: &SdkConfig) -> Result<Api<Aws>, StartError> {
    let setup = |e: &dyn std::fmt::Display| StartError::Setup(e.to_string());
    let records = DynamoRecords::new(certifica_aws::dynamodb_client(aws), &settings.table);
    let artifacts = S3Artifacts::new(certifica_aws::s3_client(aws), &settings.bucket);
    // Functions other than email send nothing; their mailer has no identity.
    let sender = settings.sender.clone().unwrap_or(Sender { name: String::new(), address: String::new() });
    let mailer = SesMailer::new(certifica_aws::ses_client(aws), sender, None);
    let stamper = LocalAuthority::simulated_sep().map_err(|e| setup(&e))?;
    let seal_key: [u8; 32] = resolve(aws, &settings.seal_key, "certifica/sellos")
        .await?
        .try_into()
        .map_err(|_| StartError::Invalid("CERTIFICA_SEAL_KEY", "debe tener exactamente 32 bytes".into()))?;
    let cursor_key = resolve(aws, &settings.cursor_key, "certifica/cursores").await?;
    let secrets = SecretBox::new(&seal_key).map_err(|e| setup(&e))?;
    // Uploaded authority-returned documents are trusted when stamped by the configured authority.
    let config =
        Config::new(&cursor_key, secrets, settings.verify_base_url.clone()).trusting(stamper.certificate().clone());
    Ok(Api::new(records, artifacts, stamper, mailer, config))
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

/// Answers one API Gateway request as function `only` (chosen at run time:
/// every function's handlers are compiled in; the tests use it).
pub async fn handle<X: Adapters>(api: &Api<X>, request: Request, only: Function) -> Response<Body> {
    let (request, identity, id) = from_lambda(request);
    to_lambda(api.answer_as(only, request, identity, &id).await)
}

/// Answers one API Gateway request with the routes `R` of one function:
/// only that function's handlers are compiled in.
pub async fn handle_routes<X: Adapters, R: FunctionRoutes>(api: &Api<X>, request: Request) -> Response<Body> {
    let (request, identity, id) = from_lambda(request);
    to_lambda(api.answer::<R>(request, identity, &id).await)
}

/// The API's request, the caller and the request id of a Lambda event.
fn from_lambda(request: Request) -> (http::Request<Bytes>, Result<Identity, AccessError>, String) {
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
    (http::Request::from_parts(parts, body), identity, id)
}

/// The Lambda answer of the API's response: text bodies as text, others binary.
fn to_lambda(response: http::Response<Bytes>) -> Response<Body> {
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
/// `R` is the function's routes module (`run::<routes::verify::Route>()`),
/// so its binary holds only its own handlers.
pub async fn run<R: FunctionRoutes>() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let settings = Settings::from_env(Lambda::Api(R::FUNCTION))?;
    let api = Arc::new(wire_aws(&settings, &certifica_aws::sdk_config().await).await?);
    lambda_http::run(lambda_http::service_fn(move |request: Request| {
        let api = api.clone();
        async move { Ok::<_, std::convert::Infallible>(handle_routes::<Aws, R>(&api, request).await) }
    }))
    .await
}
