//! Every route of the API, the Lambda function that serves it, and the one
//! pipeline every request goes through: match the route, check it is this
//! build's, the caller, the `Idempotency-Key`, then the route's handler in
//! [`crate::routes`]; any failure becomes problem+json here.
//!
//! A [`Route`] is one variant per function, each holding that function's
//! own route enum, so the function of a route is its variant. A Lambda
//! binary answers through [`Api::answer`] with its function's routes
//! (`Api::answer::<routes::list::Route>`): nothing references the other
//! functions' handlers, so the compiler leaves them out of that binary.
//! `certifica serve` answers every route ([`Api::handle`]).

use crate::idempotency;
use crate::request;
use crate::routes::{cancel, download, email, issue, list, manage, verify};
use crate::{Adapters, Api, Problem};
use bytes::Bytes;
use certifica_core::identity::{AccessError, Identity, Permission};
use certifica_core::records::check_control_number;
use futures_util::future::BoxFuture;
use http::{Method, Request, Response, StatusCode};

/// A handler's answer.
pub type Answer = Result<Response<Bytes>, Problem>;

/// Every route, as documented in `openapi.json` (checked by its test).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/schools"),
    ("GET", "/v1/schools/{school}/cycles"),
    ("GET", "/v1/schools/{school}/plans"),
    ("PUT", "/v1/schools/{school}/plans/{plan}"),
    ("PUT", "/v1/schools/{school}/signer"),
    ("GET", "/v1/schools/{school}/cycles/{cycle}/students"),
    ("GET", "/v1/schools/{school}/cycles/{cycle}/summary"),
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
    ("GET", "/v1/schools/{school}/cycles/{cycle}/jobs"),
    ("GET", "/v1/jobs/{job}"),
    ("POST", "/v1/jobs/{job}/cancel"),
    ("GET", "/v1/jobs/{job}/download"),
    ("GET", "/v1/verify/{folio}"),
];

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

impl Function {
    /// Every function.
    pub const ALL: [Function; 7] = [
        Function::ListCertificates,
        Function::ManageRecords,
        Function::IssueCertificates,
        Function::CancelCertificates,
        Function::DownloadCertificates,
        Function::EmailCertificates,
        Function::Verify,
    ];

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

/// A request matched to its route: the function that serves it, and which
/// of its routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    List(list::Route),
    Manage(manage::Route),
    Issue(issue::Route),
    Cancel(cancel::Route),
    Download(download::Route),
    Email(email::Route),
    Verify(verify::Route),
}

/// The function that answers `method` `path` (a concrete path), if any:
/// what the deployment must wire each route to.
pub fn function_of(method: &Method, path: &str) -> Option<Function> {
    Route::of(method, path).ok().map(|r| r.function())
}

impl Route {
    /// The function that serves this route.
    pub fn function(&self) -> Function {
        match self {
            Route::List(_) => Function::ListCertificates,
            Route::Manage(_) => Function::ManageRecords,
            Route::Issue(_) => Function::IssueCertificates,
            Route::Cancel(_) => Function::CancelCertificates,
            Route::Download(_) => Function::DownloadCertificates,
            Route::Email(_) => Function::EmailCertificates,
            Route::Verify(_) => Function::Verify,
        }
    }

    /// The route of `method` and `path`; a known path with another method is 405.
    pub fn of(method: &Method, path: &str) -> Result<Route, Problem> {
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
        // Every identifier in the path (school, cycle, plan, student) has a
        // matrícula's shape; the words between them pass the same check.
        if let ["v1", "schools", ids @ ..] = s.as_slice()
            && let Some(bad) = ids.iter().step_by(2).find(|id| check_control_number(id).is_err())
        {
            return Err(Problem::bad_request(
                "identificador_invalido",
                format!(
                    "«{}» no es un identificador válido en la ruta: use de 1 a 40 letras sin acento, números, guion, guion bajo o punto",
                    request::excerpt(bad)
                ),
            ));
        }
        let route = match s.as_slice() {
            ["v1", "schools"] => get.then_some(Route::List(list::Route::Schools)),
            ["v1", "schools", school, "cycles"] => {
                get.then(|| Route::List(list::Route::Cycles { school: owned(school) }))
            }
            ["v1", "schools", school, "plans"] => {
                get.then(|| Route::List(list::Route::Plans { school: owned(school) }))
            }
            ["v1", "schools", school, "plans", plan] => {
                put.then(|| Route::Manage(manage::Route::PutPlan { school: owned(school), plan: owned(plan) }))
            }
            ["v1", "schools", school, "cycles", cycle, "students"] => {
                get.then(|| Route::List(list::Route::Students { school: owned(school), cycle: owned(cycle) }))
            }
            ["v1", "schools", school, "cycles", cycle, "jobs"] => {
                get.then(|| Route::List(list::Route::CycleJobs { school: owned(school), cycle: owned(cycle) }))
            }
            ["v1", "jobs", job, ..] if check_control_number(job).is_err() => {
                return Err(Problem::bad_request(
                    "identificador_invalido",
                    format!("«{}» no es un identificador de trabajo válido", request::excerpt(job)),
                ));
            }
            ["v1", "jobs", job] => get.then(|| Route::List(list::Route::Job { job: owned(job) })),
            ["v1", "jobs", job, "cancel"] => post.then(|| Route::Issue(issue::Route::CancelJob { job: owned(job) })),
            ["v1", "jobs", job, "download"] => {
                get.then(|| Route::Download(download::Route::JobZip { job: owned(job) }))
            }
            ["v1", "schools", school, "cycles", cycle, "summary"] => {
                get.then(|| Route::List(list::Route::Summary { school: owned(school), cycle: owned(cycle) }))
            }
            ["v1", "schools", school, "cycles", cycle, "students", "import"] => post
                .then(|| Route::Manage(manage::Route::ImportStudents { school: owned(school), cycle: owned(cycle) })),
            ["v1", "schools", school, "cycles", cycle, "students", student] => get.then(|| {
                Route::List(list::Route::Student {
                    school: owned(school),
                    cycle: owned(cycle),
                    student: owned(student),
                })
            }),
            ["v1", "schools", school, "cycles", cycle, "students", student, "grades"] => put.then(|| {
                Route::Manage(manage::Route::EditGrades {
                    school: owned(school),
                    cycle: owned(cycle),
                    student: owned(student),
                })
            }),
            ["v1", "schools", school, "cycles", cycle, "grades", "bulk"] => {
                post.then(|| Route::Manage(manage::Route::BulkGrades { school: owned(school), cycle: owned(cycle) }))
            }
            ["v1", "schools", school, "signer"] => {
                put.then(|| Route::Issue(issue::Route::PutSigner { school: owned(school) }))
            }
            ["v1", "schools", school, "cycles", cycle, "certificates", action] => {
                let (school, cycle) = (owned(school), owned(cycle));
                match *action {
                    "issue" => post.then_some(Route::Issue(issue::Route::Issue { school, cycle })),
                    "preview" => post.then_some(Route::Issue(issue::Route::Preview { school, cycle })),
                    "export-sealed" => post.then_some(Route::Issue(issue::Route::ExportSealed { school, cycle })),
                    "export-unsealed" => post.then_some(Route::Issue(issue::Route::ExportUnsealed { school, cycle })),
                    "cancel" => post.then_some(Route::Cancel(cancel::Route { school, cycle })),
                    "email" => post.then_some(Route::Email(email::Route { school, cycle })),
                    "download" => post.then_some(Route::Download(download::Route::All { school, cycle })),
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
            ] => get.then(|| {
                Route::Download(download::Route::Document {
                    school: owned(school),
                    cycle: owned(cycle),
                    student: owned(student),
                    pdf: *document == "certificate.pdf",
                })
            }),
            ["v1", "verify", folio] => get.then(|| Route::Verify(verify::Route { folio: owned(folio) })),
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

/// Who is calling (verified by API Gateway or the local server, or why
/// not) and in which request (for the audit trail and the logs).
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    identity: &'a Result<Identity, AccessError>,
    pub request_id: &'a str,
}

impl<'a> Caller<'a> {
    /// The verified caller; every route but the public verification needs one.
    pub fn identity(&self) -> Result<&'a Identity, Problem> {
        self.identity.as_ref().map_err(|e| Problem::from(e.clone()))
    }
}

/// The routes a build answers: one function's (each module of
/// [`crate::routes`]), or every route ([`Route`] itself, for `certifica serve`).
pub trait Routes: Sized + Send {
    /// This build's part of `route`, or `None` when another function serves it.
    fn of(route: Route) -> Option<Self>;

    /// For routes that change state: the school and the permission they
    /// need (an `Idempotency-Key` replay is answered only to those allowed).
    fn writes(&self) -> Option<(&str, Permission)>;

    /// The route's handler, started (boxed: the handlers' futures are large,
    /// and callers — a test's or a worker's stack — hold only a pointer).
    fn answer<'a, X: Adapters>(
        self,
        api: &'a Api<X>,
        request: &'a Request<Bytes>,
        caller: Caller<'a>,
    ) -> BoxFuture<'a, Answer>;
}

/// The routes of one Lambda function.
pub trait FunctionRoutes: Routes {
    const FUNCTION: Function;
}

impl Routes for Route {
    fn of(route: Route) -> Option<Self> {
        Some(route)
    }

    fn writes(&self) -> Option<(&str, Permission)> {
        match self {
            Route::List(r) => r.writes(),
            Route::Manage(r) => r.writes(),
            Route::Issue(r) => r.writes(),
            Route::Cancel(r) => r.writes(),
            Route::Download(r) => r.writes(),
            Route::Email(r) => r.writes(),
            Route::Verify(r) => r.writes(),
        }
    }

    fn answer<'a, X: Adapters>(
        self,
        api: &'a Api<X>,
        request: &'a Request<Bytes>,
        caller: Caller<'a>,
    ) -> BoxFuture<'a, Answer> {
        match self {
            Route::List(r) => r.answer(api, request, caller),
            Route::Manage(r) => r.answer(api, request, caller),
            Route::Issue(r) => r.answer(api, request, caller),
            Route::Cancel(r) => r.answer(api, request, caller),
            Route::Download(r) => r.answer(api, request, caller),
            Route::Email(r) => r.answer(api, request, caller),
            Route::Verify(r) => r.answer(api, request, caller),
        }
    }
}

/// A route this build does not serve (another function's).
fn not_served() -> Problem {
    Problem::not_found("ruta_desconocida", "esta función no atiende la ruta solicitada")
}

impl<X: Adapters> Api<X> {
    /// Answers `request` on any route (`certifica serve`). `identity` is the
    /// verified caller, or why there is none; public routes ignore it.
    /// `request_id` goes to the audit trail and the logs.
    pub async fn handle(
        &self,
        request: Request<Bytes>,
        identity: Result<Identity, AccessError>,
        request_id: &str,
    ) -> Response<Bytes> {
        self.answer::<Route>(request, identity, request_id).await
    }

    /// Answers `request` as a build of routes `R` would: another
    /// function's routes are refused as unknown.
    pub async fn answer<R: Routes>(
        &self,
        request: Request<Bytes>,
        identity: Result<Identity, AccessError>,
        request_id: &str,
    ) -> Response<Bytes> {
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let caller = Caller { identity: &identity, request_id };
        let mut response = match self.route::<R>(&request, caller).await {
            Ok(response) => response,
            Err(problem) => problem.into_response(),
        };
        let headers = response.headers_mut();
        // A browser never guesses a type; an answer about a signed-in caller is never stored by a cache.
        headers.insert(http::header::X_CONTENT_TYPE_OPTIONS, http::HeaderValue::from_static("nosniff"));
        if identity.is_ok() {
            headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
        }
        tracing::info!(%method, %path, status = response.status().as_u16(), request_id, "request");
        response
    }

    /// Answers `request` as the build of `function` would, chosen at run
    /// time (tests and tools; a Lambda binary names its routes at compile
    /// time, so it carries only them).
    pub async fn answer_as(
        &self,
        function: Function,
        request: Request<Bytes>,
        identity: Result<Identity, AccessError>,
        request_id: &str,
    ) -> Response<Bytes> {
        match function {
            Function::ListCertificates => self.answer::<list::Route>(request, identity, request_id).await,
            Function::ManageRecords => self.answer::<manage::Route>(request, identity, request_id).await,
            Function::IssueCertificates => self.answer::<issue::Route>(request, identity, request_id).await,
            Function::CancelCertificates => self.answer::<cancel::Route>(request, identity, request_id).await,
            Function::DownloadCertificates => self.answer::<download::Route>(request, identity, request_id).await,
            Function::EmailCertificates => self.answer::<email::Route>(request, identity, request_id).await,
            Function::Verify => self.answer::<verify::Route>(request, identity, request_id).await,
        }
    }

    async fn route<R: Routes>(&self, request: &Request<Bytes>, caller: Caller<'_>) -> Answer {
        let route = R::of(Route::of(request.method(), request.uri().path())?).ok_or_else(not_served)?;
        let writes = route.writes().map(|(school, permission)| (school.to_string(), permission));
        match (writes, request.headers().get("idempotency-key")) {
            (Some((school, permission)), Some(key)) => {
                let id = caller.identity()?;
                id.require(&school, permission)?;
                let key = idempotency::key(request, &id.sub, key)?;
                idempotency::once(&self.records, id.tenant(), &key, request, route.answer(self, request, caller)).await
            }
            _ => route.answer(self, request, caller).await,
        }
    }
}
