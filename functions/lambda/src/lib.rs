//! Certifica's Lambda functions behind API Gateway (HTTP API v2): each
//! binary answers its own route group ([`Function`]) with the shared
//! [`certifica_api::Api`] over the AWS adapters; `stamp-on-upload`
//! ([`upload`]) handles the S3 inbox's ObjectCreated events, and
//! `jobs-worker` ([`worker`]) the jobs' chunks from SQS.
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
//! | `CERTIFICA_SENDER` / `CERTIFICA_SENDER_NAME` | email, jobs-worker | SES identity mail comes from |
//! | `CERTIFICA_CURSOR_SECRET` | list | the value of the secret sealing pagination cursors (a CloudFormation dynamic reference: list reads no secret at run time) |
//! | `CERTIFICA_SEAL_SECRET` | issue, stamp-on-upload, jobs-worker | Secrets Manager secret sealing signers' e.firma passwords |
//! | `CERTIFICA_STAMPER` | issue, stamp-on-upload, jobs-worker | `simulated` (dev stages: its key is public) or `ninguna` (no online authority: the semi-electronic flow) |
//! | `CERTIFICA_AUTHORITY_CERTS` | issue, stamp-on-upload, jobs-worker | the authority certificates (PEM or DER files, comma-separated) trusted in uploaded authority-returned documents; with `simulated`, its own certificate is trusted instead |
//! | `CERTIFICA_SIGNER_CAS` | issue | the CA certificates (PEM or DER files, comma-separated: SAT's ACs in production) a registered signer's e.firma must come from |
//! | `CERTIFICA_JOBS_QUEUE` | issue, email, cancel | the SQS queue (URL) a selection above the inline limit is queued in as a job |
//! | `CERTIFICA_MAIL_PER_SECOND` / `CERTIFICA_JOB_WORKERS` | jobs-worker | the SES account's sending rate and how many workers share it (the event source's maximum concurrency): each worker mails at most rate ÷ workers a second |
//! | `CERTIFICA_API_TAG` | API functions | the tag the HTTP API's stage carries (stage variable `certifica`): events from any other API are refused |
//! | `CERTIFICA_AWS_ENDPOINT` | optional | an emulator endpoint (tests only) |
//!
//! Outside AWS (tests, an emulator) `CERTIFICA_CURSOR_KEY` / `CERTIFICA_SEAL_KEY`
//! may carry the keys themselves (base64) instead of the secrets. A
//! function that does not use a key gets a random one for its lifetime: it
//! can neither read a signer's password nor forge a cursor.
//!
//! Each binary wires only the adapters its routes use ([`RecordsOnly`],
//! [`WithDocuments`], [`WithMail`], [`Issuing`],
//! [`Stamping`], [`Working`]; [`Unused`] and [`NoQueue`] stand for the
//! others) and reads Secrets Manager only when it needs the seal key
//! ([`SecretsManager`] or [`NoSecrets`]), so verify and list carry the
//! DynamoDB client alone; the AWS configuration comes from the Lambda
//! environment ([`certifica_aws::lambda_config`]).

pub use certifica_api::Function;

mod authority;
mod unused;
pub mod upload;
pub mod worker;

pub use authority::{Authority, StamperKind};
pub use unused::Unused;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
pub use certifica_api::jobs::NoQueue;
use certifica_api::{Adapters, Api, Config, FunctionRoutes};
use certifica_aws::{DynamoRecords, S3Artifacts, SdkConfig, SesMailer, SqsQueue};
use certifica_core::efirma::SignerCertificate;
use certifica_core::identity::{AccessError, Identity};
use certifica_core::mail::Sender;
use certifica_core::ports::{ArtifactStore, JobQueue, Mailer};
use certifica_core::secretbox::SecretBox;
use certifica_core::stamping::LocalAuthority;
use certifica_core::stamping::Stamper;
use certifica_core::trust::SignerCas;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use std::sync::Arc;

/// list, manage, verify: records only.
pub type RecordsOnly = (DynamoRecords, Unused, Unused, Unused, NoQueue);
/// cancel and download: records and documents, and the queue (whole
/// classes cancelled, a large cycle's zip).
pub type WithDocuments = (DynamoRecords, S3Artifacts, Unused, Unused, SqsQueue);
/// email: records, documents, mail and the queue.
pub type WithMail = (DynamoRecords, S3Artifacts, Unused, SesMailer, SqsQueue);
/// issue: records, documents, the stamping authority and the queue.
pub type Issuing = (DynamoRecords, S3Artifacts, Authority, Unused, SqsQueue);
/// stamp-on-upload: records, documents and the stamping authority.
pub type Stamping = (DynamoRecords, S3Artifacts, Authority, Unused, NoQueue);
/// jobs-worker: whatever a job does (issue, email, cancel); it queues nothing.
pub type Working = (DynamoRecords, S3Artifacts, Authority, SesMailer, NoQueue);

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
    /// The jobs' chunks, from SQS.
    JobsWorker,
}

/// Every function, as deployed (one binary each).
pub const LAMBDAS: [Lambda; 9] = [
    Lambda::Api(Function::ListCertificates),
    Lambda::Api(Function::ManageRecords),
    Lambda::Api(Function::IssueCertificates),
    Lambda::Api(Function::CancelCertificates),
    Lambda::Api(Function::DownloadCertificates),
    Lambda::Api(Function::EmailCertificates),
    Lambda::Api(Function::Verify),
    Lambda::StampOnUpload,
    Lambda::JobsWorker,
];

impl Lambda {
    /// The binary's (and the template resource's) name.
    pub fn name(self) -> &'static str {
        match self {
            Lambda::Api(f) => f.name(),
            Lambda::StampOnUpload => "stamp-on-upload",
            Lambda::JobsWorker => "jobs-worker",
        }
    }

    fn seals(self) -> bool {
        matches!(self, Lambda::Api(Function::IssueCertificates) | Lambda::StampOnUpload | Lambda::JobsWorker)
    }

    /// Queues a large selection as a job (the routes that accept one).
    fn queues(self) -> bool {
        matches!(
            self,
            Lambda::Api(
                Function::IssueCertificates
                    | Function::EmailCertificates
                    | Function::CancelCertificates
                    | Function::DownloadCertificates
            )
        )
    }

    /// Registers signers (`PUT …/signer`), so it needs the trusted CAs.
    fn registers_signers(self) -> bool {
        self == Lambda::Api(Function::IssueCertificates)
    }

    fn pages(self) -> bool {
        self == Lambda::Api(Function::ListCertificates)
    }

    fn mails(self) -> bool {
        matches!(self, Lambda::Api(Function::EmailCertificates) | Lambda::JobsWorker)
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
            vars.extend(["CERTIFICA_SEAL_SECRET", "CERTIFICA_STAMPER", "CERTIFICA_AUTHORITY_CERTS"]);
        }
        if self.registers_signers() {
            vars.push("CERTIFICA_SIGNER_CAS");
        }
        if self.queues() {
            vars.push("CERTIFICA_JOBS_QUEUE");
        }
        if self == Lambda::JobsWorker {
            vars.extend(["CERTIFICA_MAIL_PER_SECOND", "CERTIFICA_JOB_WORKERS"]);
        }
        if matches!(self, Lambda::Api(_)) {
            vars.push("CERTIFICA_API_TAG");
        }
        vars
    }
}

/// Where a key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A Secrets Manager secret (its ARN), read at start: the key is derived from its value.
    Secret(String),
    /// A secret's value, resolved into the environment at deployment: the key is derived from it.
    Value(String),
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
    /// The functions that stamp: which authority.
    pub stamper: Option<StamperKind>,
    /// Files of authority certificates trusted in uploads.
    pub authority_certs: Vec<String>,
    /// Files of the CAs a signer's e.firma must come from (issue only).
    pub signer_cas: Vec<String>,
    /// The tag of the HTTP API whose events this function answers (API functions).
    pub api_tag: Option<String>,
    /// The queue (URL) jobs are sent to (issue, email, cancel).
    pub jobs_queue: Option<String>,
    /// The least time between two mails of this worker (jobs-worker).
    pub mail_interval: Option<std::time::Duration>,
}

impl Settings {
    /// From the environment; every problem names the variable.
    pub fn from_env(lambda: Lambda) -> Result<Self, StartError> {
        Self::from_lookup(lambda, |name| std::env::var(name).ok())
    }

    pub fn from_lookup(lambda: Lambda, get: impl Fn(&str) -> Option<String>) -> Result<Self, StartError> {
        let need = |name: &'static str| get(name).filter(|v| !v.trim().is_empty()).ok_or(StartError::Missing(name));
        // A key given inline (base64; tests and emulators), if it is.
        let inline = |name: &'static str, min: usize, max: usize| {
            get(name).filter(|v| !v.trim().is_empty()).map(|text| {
                let bytes =
                    STANDARD.decode(text.trim()).map_err(|_| StartError::Invalid(name, "no es base64".into()))?;
                if bytes.len() < min || bytes.len() > max {
                    return Err(StartError::Invalid(name, format!("debe tener de {min} a {max} bytes")));
                }
                Ok(KeySource::Inline(bytes))
            })
        };
        let key = |secret: &'static str, inline_name: &'static str, min: usize, max: usize| {
            if let Some(key) = inline(inline_name, min, max) {
                return key;
            }
            let arn = need(secret)?;
            if !arn.starts_with("arn:") {
                return Err(StartError::Invalid(secret, "debe ser el ARN de un secreto de Secrets Manager".into()));
            }
            Ok(KeySource::Secret(arn))
        };
        let cursor_key = if lambda.pages() {
            match inline("CERTIFICA_CURSOR_KEY", 32, 64) {
                Some(key) => key?,
                // The template resolves the secret's value into the variable at deployment.
                None => {
                    let value = need("CERTIFICA_CURSOR_SECRET")?;
                    if value.len() < 32 {
                        return Err(StartError::Invalid(
                            "CERTIFICA_CURSOR_SECRET",
                            "debe tener 32 caracteres o más".into(),
                        ));
                    }
                    KeySource::Value(value)
                }
            }
        } else {
            KeySource::Unused
        };
        let seal_key = if lambda.seals() {
            key("CERTIFICA_SEAL_SECRET", "CERTIFICA_SEAL_KEY", 32, 32)?
        } else {
            KeySource::Unused
        };
        let files = |name: &str| -> Vec<String> {
            get(name)
                .map(|v| v.split(',').map(str::trim).filter(|f| !f.is_empty()).map(String::from).collect())
                .unwrap_or_default()
        };
        let (stamper, authority_certs) = if lambda.seals() {
            let value = need("CERTIFICA_STAMPER")?;
            let kind = StamperKind::parse(&value).ok_or_else(|| {
                StartError::Invalid(
                    "CERTIFICA_STAMPER",
                    format!(
                        "«{value}»: use «simulated» (autoridad simulada) o «ninguna» (certificación semielectrónica)"
                    ),
                )
            })?;
            let certs = files("CERTIFICA_AUTHORITY_CERTS");
            // Without an online authority, what the portal returns is all there is to trust.
            if kind == StamperKind::None && certs.is_empty() {
                return Err(StartError::Missing("CERTIFICA_AUTHORITY_CERTS"));
            }
            (Some(kind), certs)
        } else {
            (None, Vec::new())
        };
        let signer_cas = if lambda.registers_signers() {
            let cas = files("CERTIFICA_SIGNER_CAS");
            if cas.is_empty() {
                return Err(StartError::Missing("CERTIFICA_SIGNER_CAS"));
            }
            cas
        } else {
            Vec::new()
        };
        let api_tag = if matches!(lambda, Lambda::Api(_)) { Some(need("CERTIFICA_API_TAG")?) } else { None };
        let jobs_queue = if lambda.queues() {
            let url = need("CERTIFICA_JOBS_QUEUE")?;
            if !url.starts_with("https://") && !url.starts_with("http://") {
                return Err(StartError::Invalid("CERTIFICA_JOBS_QUEUE", "debe ser la URL de una cola de SQS".into()));
            }
            Some(url)
        } else {
            None
        };
        let mail_interval = if lambda == Lambda::JobsWorker {
            let number =
                |name: &'static str| -> Result<f64, StartError> {
                    let value = need(name)?;
                    value.trim().parse::<f64>().ok().filter(|n| n.is_finite() && *n > 0.0).ok_or_else(|| {
                        StartError::Invalid(name, format!("«{value}»: debe ser un número mayor que cero"))
                    })
                };
            let (rate, workers) = (number("CERTIFICA_MAIL_PER_SECOND")?, number("CERTIFICA_JOB_WORKERS")?);
            Some(std::time::Duration::from_secs_f64(workers / rate))
        } else {
            None
        };
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
            stamper,
            authority_certs,
            signer_cas,
            api_tag,
            jobs_queue,
            mail_interval,
        })
    }
}

/// The certificates of one configured file (PEM or DER), naming the variable on failure.
fn read_certificates(variable: &'static str, file: &str) -> Result<Vec<u8>, StartError> {
    std::fs::read(file).map_err(|e| StartError::Invalid(variable, format!("{file}: {e}")))
}

/// The authority certificates of `files`, each file one certificate (PEM or DER).
fn authority_certificates(files: &[String]) -> Result<Vec<SignerCertificate>, StartError> {
    files
        .iter()
        .map(|file| {
            let bytes = read_certificates("CERTIFICA_AUTHORITY_CERTS", file)?;
            SignerCertificate::from_pem_or_der(&bytes)
                .map_err(|e| StartError::Invalid("CERTIFICA_AUTHORITY_CERTS", format!("{file}: {e}")))
        })
        .collect()
}

/// The CAs of `files` a signer's e.firma must come from.
fn signer_cas(files: &[String]) -> Result<SignerCas, StartError> {
    let mut cas = SignerCas::new();
    for file in files {
        let bytes = read_certificates("CERTIFICA_SIGNER_CAS", file)?;
        cas.add(&bytes).map_err(|e| StartError::Invalid("CERTIFICA_SIGNER_CAS", format!("{file}: {e}")))?;
    }
    Ok(cas)
}

/// Where a function reads its secrets from at start.
pub trait SecretSource {
    /// The value of the secret `arn`.
    fn value(aws: &SdkConfig, arn: &str) -> impl Future<Output = Result<String, StartError>> + Send;
}

/// Secrets Manager (issue and stamp-on-upload: the seal key).
pub struct SecretsManager;

impl SecretSource for SecretsManager {
    async fn value(aws: &SdkConfig, arn: &str) -> Result<String, StartError> {
        certifica_aws::secret_string(aws, arn).await.map_err(|e| StartError::Setup(e.to_string()))
    }
}

/// No secret at run time: the function's keys are inline, resolved at
/// deployment, or unused — so its binary carries no Secrets Manager client.
pub struct NoSecrets;

impl SecretSource for NoSecrets {
    async fn value(_: &SdkConfig, arn: &str) -> Result<String, StartError> {
        Err(StartError::Setup(format!("esta función no lee secretos en ejecución (llegó {arn})")))
    }
}

/// The key of `source`: a secret's value is stretched with HMAC-SHA256 for
/// `purpose` (any random secret string of ≥ 32 characters makes a full key).
async fn resolve<K: SecretSource>(aws: &SdkConfig, source: &KeySource, purpose: &str) -> Result<Vec<u8>, StartError> {
    let stretch = |value: &str| {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, value.as_bytes());
        aws_lc_rs::hmac::sign(&key, purpose.as_bytes()).as_ref().to_vec()
    };
    match source {
        KeySource::Inline(bytes) => Ok(bytes.clone()),
        KeySource::Unused => {
            let mut bytes = vec![0u8; 32];
            aws_lc_rs::rand::fill(&mut bytes).map_err(|_| StartError::Setup("sin aleatoriedad".into()))?;
            Ok(bytes)
        }
        KeySource::Value(value) => Ok(stretch(value)),
        KeySource::Secret(arn) => {
            let value = K::value(aws, arn).await?;
            if value.len() < 32 {
                return Err(StartError::Invalid("CERTIFICA_SEAL_SECRET", format!("el secreto {arn} es muy corto")));
            }
            Ok(stretch(&value))
        }
    }
}

/// One adapter of a function, built once per process from its settings and
/// the AWS configuration.
pub trait Wired: Sized {
    fn wire(settings: &Settings, aws: &SdkConfig) -> Result<Self, StartError>;

    /// Authorities whose stamps uploaded documents may carry.
    fn authorities(&self) -> Vec<SignerCertificate> {
        Vec::new()
    }

    /// The CAs a registered signer's e.firma must come from (none: registration refused).
    fn signer_cas(&self) -> SignerCas {
        SignerCas::new()
    }
}

impl Wired for DynamoRecords {
    fn wire(settings: &Settings, aws: &SdkConfig) -> Result<Self, StartError> {
        Ok(DynamoRecords::new(certifica_aws::dynamodb_client(aws), &settings.table))
    }
}

impl Wired for S3Artifacts {
    fn wire(settings: &Settings, aws: &SdkConfig) -> Result<Self, StartError> {
        Ok(S3Artifacts::new(certifica_aws::s3_client(aws), &settings.bucket))
    }
}

impl Wired for SesMailer {
    fn wire(settings: &Settings, aws: &SdkConfig) -> Result<Self, StartError> {
        let sender = settings.sender.clone().ok_or(StartError::Missing("CERTIFICA_SENDER"))?;
        Ok(SesMailer::new(certifica_aws::ses_client(aws), sender, None))
    }
}

impl Wired for LocalAuthority {
    fn wire(_: &Settings, _: &SdkConfig) -> Result<Self, StartError> {
        LocalAuthority::simulated_sep().map_err(|e| StartError::Setup(e.to_string()))
    }

    fn authorities(&self) -> Vec<SignerCertificate> {
        vec![self.certificate().clone()]
    }
}

impl Authority {
    /// The authority and trust `settings` configure, their files read.
    pub fn from_settings(settings: &Settings) -> Result<Self, StartError> {
        let online = match settings.stamper {
            Some(StamperKind::Simulated) => {
                Some(LocalAuthority::simulated_sep().map_err(|e| StartError::Setup(e.to_string()))?)
            }
            Some(StamperKind::None) => None,
            None => return Err(StartError::Missing("CERTIFICA_STAMPER")),
        };
        Ok(Authority::new(
            online,
            authority_certificates(&settings.authority_certs)?,
            signer_cas(&settings.signer_cas)?,
        ))
    }
}

impl Wired for Authority {
    fn wire(settings: &Settings, _: &SdkConfig) -> Result<Self, StartError> {
        Authority::from_settings(settings)
    }

    fn authorities(&self) -> Vec<SignerCertificate> {
        self.trusted()
    }

    fn signer_cas(&self) -> SignerCas {
        Authority::signer_cas(self).clone()
    }
}

impl Wired for SqsQueue {
    fn wire(settings: &Settings, aws: &SdkConfig) -> Result<Self, StartError> {
        let url = settings.jobs_queue.clone().ok_or(StartError::Missing("CERTIFICA_JOBS_QUEUE"))?;
        Ok(SqsQueue::new(certifica_aws::sqs_client(aws), url))
    }
}

impl Wired for NoQueue {
    fn wire(_: &Settings, _: &SdkConfig) -> Result<Self, StartError> {
        Ok(NoQueue)
    }
}

impl Wired for Unused {
    fn wire(_: &Settings, _: &SdkConfig) -> Result<Self, StartError> {
        Ok(Unused)
    }
}

/// Builds the API over the adapters `R`, `A`, `S`, `M`, `Q` (all from one
/// `aws` configuration), reading secrets from `K`, once per process.
pub async fn wire<R, A, S, M, Q, K>(settings: &Settings, aws: &SdkConfig) -> Result<Api<(R, A, S, M, Q)>, StartError>
where
    R: certifica_api::Records + Wired,
    A: ArtifactStore + Wired + 'static,
    S: Stamper + Wired + 'static,
    M: Mailer + Wired + 'static,
    Q: JobQueue + Wired + 'static,
    K: SecretSource,
{
    let seal_key: [u8; 32] = resolve::<K>(aws, &settings.seal_key, "certifica/sellos")
        .await?
        .try_into()
        .map_err(|_| StartError::Invalid("CERTIFICA_SEAL_KEY", "debe tener exactamente 32 bytes".into()))?;
    let cursor_key = resolve::<K>(aws, &settings.cursor_key, "certifica/cursores").await?;
    let secrets = SecretBox::new(&seal_key).map_err(|e| StartError::Setup(e.to_string()))?;
    let stamper = S::wire(settings, aws)?;
    // What the stamping functions trust comes with their authority (only
    // they read certificate files): uploaded documents stamped by the
    // configured authority, and signers from the configured CAs.
    let mut config =
        Config::new(&cursor_key, secrets, settings.verify_base_url.clone()).trusting_signer_cas(stamper.signer_cas());
    for authority in stamper.authorities() {
        config = config.trusting(authority);
    }
    config.mail_interval = settings.mail_interval;
    Ok(Api::with_queue(
        R::wire(settings, aws)?,
        A::wire(settings, aws)?,
        stamper,
        M::wire(settings, aws)?,
        Q::wire(settings, aws)?,
        config,
    ))
}

/// The AWS configuration of this function, from the Lambda environment.
pub fn aws_config() -> Result<SdkConfig, StartError> {
    certifica_aws::lambda_config().map_err(|e| StartError::Setup(e.to_string()))
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

/// Refuses an event that did not come through this deployment's HTTP API
/// (defence in depth beside the invoke permission, which names the API).
/// The API's id cannot be given to its own functions — SAM's API definition
/// refers to the functions, so the reverse reference is a dependency cycle —
/// so the API's stage carries a tag (stage variable `certifica`, the stack's
/// id) that its functions are configured with; a test event, a direct
/// invocation or another API lacks it.
pub fn from_another_api(request: &Request, api_tag: &str) -> Option<Response<Body>> {
    let tag = request.stage_variables_ref().and_then(|v| v.first("certifica"));
    if tag == Some(api_tag) {
        return None;
    }
    let api_id = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.apiid.clone(),
        _ => None,
    };
    tracing::warn!(api_id = ?api_id, "evento que no llegó por la API de esta instalación, rechazado");
    let problem = certifica_api::Problem::new(
        http::StatusCode::FORBIDDEN,
        "api_desconocida",
        "la solicitud no llegó por la API de esta instalación",
    );
    Some(to_lambda(problem.into_response()))
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
/// `Routes` is the function's routes module, `(R, A, S, M, Q)` the adapters
/// they use and `K` where secrets come from
/// (`run::<routes::verify::Route, DynamoRecords, Unused, Unused, Unused, NoQueue, NoSecrets>()`),
/// so its binary holds only its own handlers and clients.
pub async fn run<Routes, R, A, S, M, Q, K>() -> Result<(), lambda_http::Error>
where
    Routes: FunctionRoutes,
    R: certifica_api::Records + Wired,
    A: ArtifactStore + Wired + 'static,
    S: Stamper + Wired + 'static,
    M: Mailer + Wired + 'static,
    Q: JobQueue + Wired + 'static,
    K: SecretSource,
{
    lambda_http::tracing::init_default_subscriber();
    let settings = Settings::from_env(Lambda::Api(Routes::FUNCTION))?;
    let api = Arc::new(wire::<R, A, S, M, Q, K>(&settings, &aws_config()?).await?);
    let api_tag: Arc<str> = settings.api_tag.clone().ok_or(StartError::Missing("CERTIFICA_API_TAG"))?.into();
    lambda_http::run(lambda_http::service_fn(move |request: Request| {
        let (api, api_tag) = (api.clone(), api_tag.clone());
        async move {
            if let Some(refused) = from_another_api(&request, &api_tag) {
                return Ok::<_, std::convert::Infallible>(refused);
            }
            Ok(handle_routes::<(R, A, S, M, Q), Routes>(&api, request).await)
        }
    }))
    .await
}
