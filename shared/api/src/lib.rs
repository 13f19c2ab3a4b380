//! Certifica's HTTP API v1 (DESIGN.md, "HTTP API v1"): one router over
//! `http` types, so the same code answers inside the Lambda functions
//! (`lambda_http`, identity from the API Gateway JWT authorizer) and in
//! `certifica serve` (identity from a locally verified token).
//!
//! Handlers parse → call the ports and the domain → map to HTTP; every
//! failure is a [`Problem`] (`application/problem+json`). The institution
//! always comes from the verified [`Identity`], never from the request.

mod bulk_zip;
mod certification;
mod csv_import;
mod documents;
mod idempotency;
pub mod inbox;
mod problem;
pub mod provision;
mod records;
mod request;
pub mod upload;

pub use problem::Problem;
pub use request::MAX_BODY_BYTES;

use bytes::Bytes;
use certifica_core::efirma::SignerCertificate;
use certifica_core::identity::{AccessError, Identity, Permission};
use certifica_core::pdf::{PdfError, PdfRenderer};
use certifica_core::ports::{
    ArtifactStore, AuditStore, CertificateStore, CreditStore, IdempotencyStore, InstitutionStore, Mailer, StudentStore,
};
use certifica_core::roster::CursorKey;
use certifica_core::secretbox::SecretBox;
use certifica_core::stamping::Stamper;
use futures_util::future::BoxFuture;
use http::{Method, Request, Response, StatusCode};

/// Everything the routes need from the records store.
pub trait Records:
    InstitutionStore
    + StudentStore
    + CertificateStore
    + CreditStore
    + AuditStore
    + IdempotencyStore
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
        }
    }

    /// Trusts `authority`'s stamps in uploaded documents.
    pub fn trusting(mut self, authority: SignerCertificate) -> Self {
        self.authorities.push(authority);
        self
    }
}

/// One set of adapters: records, documents, the stamping authority (IPES;
/// autonomous universities stamp with their own node) and mail.
pub trait Adapters: Send + Sync + 'static {
    type Records: Records;
    type Artifacts: ArtifactStore;
    type Stamper: Stamper;
    type Mailer: Mailer;
}

/// The API over one set of adapters.
pub struct Api<X: Adapters> {
    records: X::Records,
    artifacts: X::Artifacts,
    stamper: X::Stamper,
    mailer: X::Mailer,
    /// Parsed on first use: functions that never render never pay for it.
    renderer: std::sync::OnceLock<PdfRenderer>,
    config: Config,
}

/// Every route, as documented in `openapi.json` (checked by its test).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/schools"),
    ("GET", "/v1/schools/{school}/cycles"),
    ("GET", "/v1/schools/{school}/plans"),
    ("PUT", "/v1/schools/{school}/plans/{plan}"),
    ("PUT", "/v1/schools/{school}/signer"),
    ("GET", "/v1/schools/{school}/cycles/{cycle}/students"),
    ("POST", "/v1/schools/{school}/cycles/{cycle}/students/import"),
    ("GET", "/v1/schools/{school}/cycles/{cycle}/students/{student}"),
    ("PUT", "/v1/schools/{school}/cycles/{cycle}/students/{student}/grades"),
    ("POST", "/v1/schools/{school}/cycles/{cycle}/grades/bulk"),
    ("POST", "/v1/schools/{school}/cycles/{cycle}/certificates/issue"),
    ("POST", "/v1/schools/{school}/cycles/{cycle}/certificates/preview"),
    ("POST", "/v1/schools/{school}/cycles/{cycle}/certificates/cancel"),
    ("POST", "/v1/schools/{school}/cycles/{cycle}/certificates/email"),
    ("POST", "/v1/schools/{school}/cycles/{cycle}/certificates/download"),
    ("POST", "/v1/schools/{school}/cycles/{cycle}/certificates/export-sealed"),
    ("POST", "/v1/schools/{school}/cycles/{cycle}/certificates/export-unsealed"),
    ("GET", "/v1/schools/{school}/cycles/{cycle}/students/{student}/certificate.xml"),
    ("GET", "/v1/schools/{school}/cycles/{cycle}/students/{student}/certificate.pdf"),
    ("GET", "/v1/verify/{folio}"),
];

/// The OpenAPI 3.1 document of the API.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Which function serves a route (one Lambda each; `certifica serve` serves all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    ListCertificates,
    ManageRecords,
    IssueCertificates,
    CancelCertificates,
    DownloadCertificates,
    EmailCertificates,
    Verify,
}

/// A build that answers every function's routes (`certifica serve`, the tests).
pub const ALL_FUNCTIONS: u8 = u8::MAX;

impl Function {
    /// The function's number, for [`Api::handle_function`]'s `F`.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Every function, in the order of their codes.
    pub const ALL: [Function; 7] = [
        Function::ListCertificates,
        Function::ManageRecords,
        Function::IssueCertificates,
        Function::CancelCertificates,
        Function::DownloadCertificates,
        Function::EmailCertificates,
        Function::Verify,
    ];

    /// The function numbered `code`.
    pub const fn from_code(code: u8) -> Option<Function> {
        if (code as usize) < Function::ALL.len() { Some(Function::ALL[code as usize]) } else { None }
    }

    /// Whether a build for `f` (a [`Function::code`] or [`ALL_FUNCTIONS`])
    /// answers this function's routes. A constant once `f` is, so a handler
    /// of another function is never compiled into a function's binary.
    const fn served_by(self, f: u8) -> bool {
        f == ALL_FUNCTIONS || f == self as u8
    }

    /// The function's name (its binary and its template resource).
    pub fn name(self) -> &'static str {
        match self {
            Function::ListCertificates => "list-certificates",
            Function::ManageRecords => "manage-records",
            Function::IssueCertificates => "issue-certificates",
            Function::CancelCertificates => "cancel-certificates",
            Function::DownloadCertificates => "download-certificates",
            Function::EmailCertificates => "email-certificates",
            Function::Verify => "verify",
        }
    }
}

/// A route this build does not serve (another function's).
fn not_served() -> Problem {
    Problem::not_found("ruta_desconocida", "esta función no atiende la ruta solicitada")
}

/// The function that answers `method` `path` (a concrete path), if any:
/// what the deployment must wire each route to.
pub fn function_of(method: &Method, path: &str) -> Option<Function> {
    Route::of(method, path).ok().map(|r| r.function())
}

/// A request matched to its route.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Schools,
    Cycles { school: String },
    Plans { school: String },
    PutPlan { school: String, plan: String },
    Students { school: String, cycle: String },
    Student { school: String, cycle: String, student: String },
    ImportStudents { school: String, cycle: String },
    EditGrades { school: String, cycle: String, student: String },
    BulkGrades { school: String, cycle: String },
    PutSigner { school: String },
    Issue { school: String, cycle: String },
    Preview { school: String, cycle: String },
    Cancel { school: String, cycle: String },
    Email { school: String, cycle: String },
    DownloadAll { school: String, cycle: String },
    ExportSealed { school: String, cycle: String },
    ExportUnsealed { school: String, cycle: String },
    Document { school: String, cycle: String, student: String, pdf: bool },
    Verify { folio: String },
}

impl Route {
    /// For routes that change state: the school and the permission they
    /// need (an `Idempotency-Key` replay is answered only to those allowed).
    fn writes(&self) -> Option<(&str, Permission)> {
        match self {
            Route::PutPlan { school, .. }
            | Route::ImportStudents { school, .. }
            | Route::EditGrades { school, .. }
            | Route::BulkGrades { school, .. } => Some((school, Permission::Editar)),
            Route::Issue { school, .. } | Route::Cancel { school, .. } | Route::Email { school, .. } => {
                Some((school, Permission::Timbrar))
            }
            _ => None,
        }
    }

    fn function(&self) -> Function {
        match self {
            Route::Schools
            | Route::Cycles { .. }
            | Route::Plans { .. }
            | Route::Students { .. }
            | Route::Student { .. } => Function::ListCertificates,
            Route::PutPlan { .. }
            | Route::ImportStudents { .. }
            | Route::EditGrades { .. }
            | Route::BulkGrades { .. } => Function::ManageRecords,
            Route::PutSigner { .. }
            | Route::Issue { .. }
            | Route::Preview { .. }
            | Route::ExportSealed { .. }
            | Route::ExportUnsealed { .. } => Function::IssueCertificates,
            Route::Cancel { .. } => Function::CancelCertificates,
            Route::Email { .. } => Function::EmailCertificates,
            Route::DownloadAll { .. } | Route::Document { .. } => Function::DownloadCertificates,
            Route::Verify { .. } => Function::Verify,
        }
    }

    /// The route of `method` and `path`; a known path with another method is 405.
    fn of(method: &Method, path: &str) -> Result<Route, Problem> {
        let segments = request::segments(path)?;
        let s: Vec<&str> = segments.iter().map(String::as_str).collect();
        let (get, put, post) = (method == Method::GET, method == Method::PUT, method == Method::POST);
        let owned = |x: &str| x.to_string();
        let unknown = || {
            Problem::not_found(
                "ruta_desconocida",
                format!("no existe la ruta {method} {path}; consulte la documentación de la API (openapi.json)"),
            )
        };
        let route = match s.as_slice() {
            ["v1", "schools"] => get.then_some(Route::Schools),
            ["v1", "schools", school, "cycles"] => get.then(|| Route::Cycles { school: owned(school) }),
            ["v1", "schools", school, "plans"] => get.then(|| Route::Plans { school: owned(school) }),
            ["v1", "schools", school, "plans", plan] => {
                put.then(|| Route::PutPlan { school: owned(school), plan: owned(plan) })
            }
            ["v1", "schools", school, "cycles", cycle, "students"] => {
                get.then(|| Route::Students { school: owned(school), cycle: owned(cycle) })
            }
            ["v1", "schools", school, "cycles", cycle, "students", "import"] => {
                post.then(|| Route::ImportStudents { school: owned(school), cycle: owned(cycle) })
            }
            ["v1", "schools", school, "cycles", cycle, "students", student] => {
                get.then(|| Route::Student { school: owned(school), cycle: owned(cycle), student: owned(student) })
            }
            ["v1", "schools", school, "cycles", cycle, "students", student, "grades"] => {
                put.then(|| Route::EditGrades { school: owned(school), cycle: owned(cycle), student: owned(student) })
            }
            ["v1", "schools", school, "cycles", cycle, "grades", "bulk"] => {
                post.then(|| Route::BulkGrades { school: owned(school), cycle: owned(cycle) })
            }
            ["v1", "schools", school, "signer"] => put.then(|| Route::PutSigner { school: owned(school) }),
            ["v1", "schools", school, "cycles", cycle, "certificates", action] => {
                let (school, cycle) = (owned(school), owned(cycle));
                match *action {
                    "issue" => post.then_some(Route::Issue { school, cycle }),
                    "preview" => post.then_some(Route::Preview { school, cycle }),
                    "cancel" => post.then_some(Route::Cancel { school, cycle }),
                    "email" => post.then_some(Route::Email { school, cycle }),
                    "download" => post.then_some(Route::DownloadAll { school, cycle }),
                    "export-sealed" => post.then_some(Route::ExportSealed { school, cycle }),
                    "export-unsealed" => post.then_some(Route::ExportUnsealed { school, cycle }),
                    _ => return Err(unknown()),
                }
            }
            [
                "v1",
                "schools",
                school,
                "cycles",
                cycle,
                "students",
                student,
                document @ ("certificate.xml" | "certificate.pdf"),
            ] => get.then(|| Route::Document {
                school: owned(school),
                cycle: owned(cycle),
                student: owned(student),
                pdf: *document == "certificate.pdf",
            }),
            ["v1", "verify", folio] => get.then(|| Route::Verify { folio: owned(folio) }),
            _ => return Err(unknown()),
        };
        route.ok_or_else(|| {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "metodo_no_permitido",
                format!("la ruta {path} no admite el método {method}"),
            )
        })
    }
}

impl<X: Adapters> Api<X> {
    pub fn new(
        records: X::Records,
        artifacts: X::Artifacts,
        stamper: X::Stamper,
        mailer: X::Mailer,
        config: Config,
    ) -> Self {
        Api { records, artifacts, stamper, mailer, renderer: std::sync::OnceLock::new(), config }
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

    /// Answers `request` as function `only` would (all routes when `None`).
    /// `identity` is the verified caller, or why there is none; public
    /// routes ignore it. `request_id` goes to the audit trail and the logs.
    /// Each function is answered by its own compile-time build, so what goes
    /// through `only` (the tests) runs the same guarded dispatch as that
    /// function's Lambda binary.
    pub async fn handle(
        &self,
        request: Request<Bytes>,
        identity: Result<Identity, AccessError>,
        request_id: &str,
        only: Option<Function>,
    ) -> Response<Bytes> {
        match only {
            None => self.handle_function::<ALL_FUNCTIONS>(request, identity, request_id).await,
            Some(Function::ListCertificates) => {
                self.handle_function::<{ Function::ListCertificates.code() }>(request, identity, request_id).await
            }
            Some(Function::ManageRecords) => {
                self.handle_function::<{ Function::ManageRecords.code() }>(request, identity, request_id).await
            }
            Some(Function::IssueCertificates) => {
                self.handle_function::<{ Function::IssueCertificates.code() }>(request, identity, request_id).await
            }
            Some(Function::CancelCertificates) => {
                self.handle_function::<{ Function::CancelCertificates.code() }>(request, identity, request_id).await
            }
            Some(Function::DownloadCertificates) => {
                self.handle_function::<{ Function::DownloadCertificates.code() }>(request, identity, request_id).await
            }
            Some(Function::EmailCertificates) => {
                self.handle_function::<{ Function::EmailCertificates.code() }>(request, identity, request_id).await
            }
            Some(Function::Verify) => {
                self.handle_function::<{ Function::Verify.code() }>(request, identity, request_id).await
            }
        }
    }

    /// [`Api::handle`] for a build that answers only function `F` (a
    /// [`Function::code`], or [`ALL_FUNCTIONS`]): other functions' routes are
    /// refused as unknown, and their handlers are not compiled in — each
    /// Lambda binary carries only its own routes' code and dependencies.
    pub async fn handle_function<const F: u8>(
        &self,
        request: Request<Bytes>,
        identity: Result<Identity, AccessError>,
        request_id: &str,
    ) -> Response<Bytes> {
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        // Boxed: the routes' futures are large, and callers (a test's or a
        // worker's stack) should only hold a pointer to them.
        let response = match Box::pin(self.route::<F>(&request, identity, request_id)).await {
            Ok(response) => response,
            Err(problem) => problem.into_response(),
        };
        tracing::info!(%method, %path, status = response.status().as_u16(), request_id, "request");
        response
    }

    async fn route<const F: u8>(
        &self,
        request: &Request<Bytes>,
        identity: Result<Identity, AccessError>,
        request_id: &str,
    ) -> Result<Response<Bytes>, Problem> {
        let route = Route::of(request.method(), request.uri().path())?;
        if !route.function().served_by(F) {
            return Err(not_served());
        }
        if let Route::Verify { folio } = &route {
            // Served: the check above refused it otherwise. (Its handler, a
            // single read, stays in every binary: an awaited state is kept.)
            return records::verify(self, folio).await;
        }
        let id = identity?;
        match (route.writes(), request.headers().get("idempotency-key")) {
            (Some((school, permission)), Some(key)) => {
                id.require(school, permission)?;
                let key = idempotency::key(request, key)?;
                idempotency::once(
                    &self.records,
                    id.tenant(),
                    &key,
                    self.dispatch::<F>(route.clone(), request, &id, request_id),
                )
                .await
            }
            _ => self.dispatch::<F>(route, request, &id, request_id).await,
        }
    }

    /// The route's handler, started. Each arm is guarded by a constant (does
    /// build `F` serve the route's function, as [`Route::function`] says)
    /// and boxes its handler's future: a false arm is removed with the only
    /// reference to its handler, so a function's binary compiles only its
    /// own handlers. (Awaited here instead, every handler would stay: an
    /// async fn's state machine keeps the code of every state it has.)
    fn dispatch<'a, const F: u8>(
        &'a self,
        route: Route,
        request: &'a Request<Bytes>,
        id: &'a Identity,
        request_id: &'a str,
    ) -> BoxFuture<'a, Result<Response<Bytes>, Problem>> {
        let list = Function::ListCertificates.served_by(F);
        let manage = Function::ManageRecords.served_by(F);
        let issue = Function::IssueCertificates.served_by(F);
        let cancel = Function::CancelCertificates.served_by(F);
        let email = Function::EmailCertificates.served_by(F);
        let download = Function::DownloadCertificates.served_by(F);
        match route {
            Route::Schools if list => Box::pin(async move { records::schools(self, id).await }),
            Route::Cycles { school } if list => Box::pin(async move { records::cycles(self, id, &school).await }),
            Route::Plans { school } if list => Box::pin(async move { records::plans(self, id, &school).await }),
            Route::PutPlan { school, plan } if manage => {
                Box::pin(async move { records::put_plan(self, id, &school, &plan, request).await })
            }
            Route::Students { school, cycle } if list => {
                Box::pin(async move { records::students(self, id, &school, &cycle, request).await })
            }
            Route::Student { school, cycle, student } if list => {
                Box::pin(async move { records::student(self, id, &school, &cycle, &student).await })
            }
            Route::ImportStudents { school, cycle } if manage => {
                Box::pin(async move { records::import_students(self, id, &school, &cycle, request).await })
            }
            Route::EditGrades { school, cycle, student } if manage => {
                Box::pin(
                    async move { records::edit_grades(self, id, &school, &cycle, &student, request, request_id).await },
                )
            }
            Route::BulkGrades { school, cycle } if manage => {
                Box::pin(async move { records::bulk_grades(self, id, &school, &cycle, request, request_id).await })
            }
            Route::PutSigner { school } if issue => {
                Box::pin(async move { certification::put_signer(self, id, &school, request, request_id).await })
            }
            Route::Issue { school, cycle } if issue => {
                Box::pin(async move { certification::issue(self, id, &school, &cycle, request, request_id).await })
            }
            Route::Preview { school, cycle } if issue => {
                Box::pin(async move { documents::preview(self, id, &school, &cycle, request).await })
            }
            Route::Cancel { school, cycle } if cancel => {
                Box::pin(async move { documents::cancel(self, id, &school, &cycle, request, request_id).await })
            }
            Route::Email { school, cycle } if email => {
                Box::pin(async move { documents::email(self, id, &school, &cycle, request, request_id).await })
            }
            Route::DownloadAll { school, cycle } if download => {
                Box::pin(async move { documents::download_all(self, id, &school, &cycle).await })
            }
            Route::ExportSealed { school, cycle } if issue => {
                Box::pin(async move { documents::export_sealed(self, id, &school, &cycle, request).await })
            }
            Route::ExportUnsealed { school, cycle } if issue => {
                Box::pin(async move { certification::export_unsealed(self, id, &school, &cycle, request).await })
            }
            Route::Document { school, cycle, student, pdf } if download => {
                Box::pin(async move { documents::download_one(self, id, &school, &cycle, &student, pdf).await })
            }
            _ => Box::pin(std::future::ready(Err(not_served()))),
        }
    }
}
