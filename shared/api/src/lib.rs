//! Certifica's HTTP API v1 (DESIGN.md, "HTTP API v1"): one router over
//! `http` types, so the same code answers inside the Lambda functions
//! (`lambda_http`, identity from the API Gateway JWT authorizer) and in
//! `certifica serve` (identity from a locally verified token).
//!
//! Where things are:
//! - [`router`]: every route, which function serves it, and the one
//!   pipeline every request goes through (identity, idempotency, the
//!   route's handler, problem+json);
//! - [`routes`]: one module per Lambda function with its handlers — each
//!   parses, calls the use case or the ports, and maps to HTTP;
//! - [`issuing`]: the HTTP-free use case of sealing, stamping and committing
//!   certificates, shared by the issue route and the upload inbox;
//! - [`importing`]: the HTTP-free use case of importing students (audited,
//!   certified values kept while a certificate states them);
//! - [`upload`]: what a file dropped in the inbox does;
//! - [`jobs`]: large selections queued as jobs, and the worker's part;
//! - [`outcome`]: what became of each student of a batch.
//!
//! Every failure is a [`Problem`] (`application/problem+json`). The
//! institution always comes from the verified identity, never from the request.

mod batch;
mod bulk_zip;
mod csv_import;
mod dates;
mod idempotency;
pub mod importing;
pub mod inbox;
pub mod issuing;
pub mod jobs;
mod lookup;
pub mod outcome;
mod problem;
pub mod provision;
mod request;
pub mod router;
pub mod routes;
pub mod upload;

pub use dates::today_in_mexico;
pub use problem::Problem;
pub use request::MAX_BODY_BYTES;
pub use router::{Function, FunctionRoutes, ROUTES, Routes, function_of};

use certifica_core::efirma::SignerCertificate;
use certifica_core::pdf::{PdfError, PdfRenderer};
use certifica_core::ports::{
    ArtifactStore, AuditStore, CertificateStore, CreditStore, IdempotencyStore, InstitutionStore, JobQueue, JobStore,
    Mailer, StudentStore,
};
use certifica_core::roster::CursorKey;
use certifica_core::secretbox::SecretBox;
use certifica_core::stamping::Stamper;
use certifica_core::trust::SignerCas;

/// Everything the routes need from the records store.
pub trait Records:
    InstitutionStore
    + StudentStore
    + CertificateStore
    + CreditStore
    + AuditStore
    + IdempotencyStore
    + JobStore
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> Records for T where
    T: InstitutionStore
        + StudentStore
        + CertificateStore
        + CreditStore
        + AuditStore
        + IdempotencyStore
        + JobStore
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// Settings of the API.
#[derive(Debug)]
pub struct Config {
    /// Seals pagination cursors (a secret of the deployment).
    pub cursor_key: CursorKey,
    /// Seals signers' e.firma passwords at rest (a secret of the deployment).
    pub secrets: SecretBox,
    /// Base of the public verification page; the folio is appended (QR codes, mail).
    pub verify_base_url: String,
    /// Students per page when the client does not say.
    pub default_page: usize,
    /// Students per issue request: a batch that finishes well within one invocation.
    pub max_batch: usize,
    /// Stamping authorities whose certificates are trusted in uploaded
    /// authority-returned documents (the configured stamper's).
    pub authorities: Vec<SignerCertificate>,
    /// The certification authorities a registered signer's e.firma must
    /// come from (SAT's in production; none trusted by default).
    pub signer_cas: SignerCas,
    /// How long a credit is held while the authority answers; a crashed
    /// attempt's hold is settled by the sweep after it (well above a
    /// function's timeout).
    pub reservation_ttl: chrono::Duration,
    /// The least time between two mails a job's worker sends (the mail
    /// service's rate over the workers that run at once); none by default.
    pub mail_interval: Option<std::time::Duration>,
    /// Certificates a cycle's zip takes inside the request; above, it is a
    /// job (API Gateway answers within 29 s; 2,000 take about 8 s in AWS,
    /// docs/performance.md).
    pub inline_download_limit: usize,
}

impl Config {
    pub fn new(cursor_secret: &[u8], secrets: SecretBox, verify_base_url: impl Into<String>) -> Self {
        Config {
            cursor_key: CursorKey::new(cursor_secret),
            secrets,
            verify_base_url: verify_base_url.into(),
            default_page: 50,
            max_batch: 50,
            authorities: Vec::new(),
            signer_cas: SignerCas::new(),
            reservation_ttl: chrono::Duration::minutes(5),
            mail_interval: None,
            inline_download_limit: 2_000,
        }
    }

    /// Trusts `authority`'s stamps in uploaded documents.
    pub fn trusting(mut self, authority: SignerCertificate) -> Self {
        self.authorities.push(authority);
        self
    }

    /// Accepts signers whose e.firma comes from one of `cas`.
    pub fn trusting_signer_cas(mut self, cas: SignerCas) -> Self {
        self.signer_cas = cas;
        self
    }
}

/// One set of adapters: records, documents, the stamping authority (IPES;
/// autonomous universities stamp with their own node), mail, and the queue
/// jobs wait in.
pub trait Adapters: Send + Sync + 'static {
    type Records: Records;
    type Artifacts: ArtifactStore;
    type Stamper: Stamper;
    type Mailer: Mailer;
    type Queue: JobQueue;
}

/// Any four adapters make a set that queues no jobs (its routes answer
/// inline only), so an adapter crate can name its set (`type Local =
/// (LocalRecords, …)`) without depending on this crate.
impl<R, A, S, M> Adapters for (R, A, S, M)
where
    R: Records,
    A: ArtifactStore + 'static,
    S: Stamper + 'static,
    M: Mailer + 'static,
{
    type Records = R;
    type Artifacts = A;
    type Stamper = S;
    type Mailer = M;
    type Queue = jobs::NoQueue;
}

/// Five adapters: a set with a queue for jobs.
impl<R, A, S, M, Q> Adapters for (R, A, S, M, Q)
where
    R: Records,
    A: ArtifactStore + 'static,
    S: Stamper + 'static,
    M: Mailer + 'static,
    Q: JobQueue + 'static,
{
    type Records = R;
    type Artifacts = A;
    type Stamper = S;
    type Mailer = M;
    type Queue = Q;
}

/// The API over one set of adapters.
pub struct Api<X: Adapters> {
    records: X::Records,
    artifacts: X::Artifacts,
    stamper: X::Stamper,
    mailer: X::Mailer,
    queue: X::Queue,
    pacer: jobs::Pacer,
    /// Parsed on first use: functions that never render never pay for it.
    renderer: std::sync::OnceLock<PdfRenderer>,
    config: Config,
}

/// The OpenAPI 3.1 document of the API.
pub const OPENAPI: &str = include_str!("../openapi.json");

impl<X: Adapters> Api<X> {
    pub fn new(
        records: X::Records,
        artifacts: X::Artifacts,
        stamper: X::Stamper,
        mailer: X::Mailer,
        config: Config,
    ) -> Self
    where
        X::Queue: Default,
    {
        Self::with_queue(records, artifacts, stamper, mailer, X::Queue::default(), config)
    }

    /// With the queue large selections become jobs in.
    pub fn with_queue(
        records: X::Records,
        artifacts: X::Artifacts,
        stamper: X::Stamper,
        mailer: X::Mailer,
        queue: X::Queue,
        config: Config,
    ) -> Self {
        Api {
            records,
            artifacts,
            stamper,
            mailer,
            queue,
            pacer: jobs::Pacer::default(),
            renderer: std::sync::OnceLock::new(),
            config,
        }
    }

    /// Renders `dec` to PDF (the fonts are parsed the first time).
    pub(crate) fn render_pdf(
        &self,
        dec: &certifica_core::document::Dec,
        options: &certifica_core::pdf::RenderOptions,
    ) -> Result<Vec<u8>, PdfError> {
        let renderer = match self.renderer.get() {
            Some(r) => r,
            None => {
                let parsed = PdfRenderer::new()?;
                self.renderer.get_or_init(|| parsed)
            }
        };
        renderer.render(dec, options)
    }

    pub fn artifacts(&self) -> &X::Artifacts {
        &self.artifacts
    }

    pub fn stamper(&self) -> &X::Stamper {
        &self.stamper
    }

    pub fn records(&self) -> &X::Records {
        &self.records
    }

    pub fn mailer(&self) -> &X::Mailer {
        &self.mailer
    }

    pub fn queue(&self) -> &X::Queue {
        &self.queue
    }

    pub fn config(&self) -> &Config {
        &self.config
    }
}
