//! `download-certificates`: one certificate's XML or PDF (a redirect to a
//! short-lived link, or the link as JSON), and a school and cycle's
//! certificates (all plans: timbrados, and sellados or cancelados when
//! asked; XML and PDF or XML only) with a CSV manifest, as one zip.

use crate::bulk_zip::{self, BulkZip, link_answer};
use crate::jobs::{self, visible_job};
use crate::lookup::{CyclePages, document, latest_certificate};
use crate::problem::json_response;
use crate::request::json_body;
use crate::router::{self, Answer, Caller, Function, FunctionRoutes, Routes};
use crate::{Adapters, Api, Problem};
use bytes::Bytes;
use certifica_core::identity::{Identity, Permission};
use certifica_core::jobs::{IN_ZIP, Job, JobStatus, JobWork};
use certifica_core::ports::{ArtifactKind, ArtifactStore, JobStore, StudentStore};
use certifica_core::records::{Actor, CertificateRecord, CertificateStatus, Tenant};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use http::{Request, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

/// Certificates whose documents are read ahead while the zip is written.
const FETCH_AHEAD: usize = 8;

/// A cycle's recent jobs looked at for a download already being prepared.
const RECENT_JOBS: usize = 20;

/// The routes of `download-certificates`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST …/certificates/download`.
    All { school: String, cycle: String },
    /// `GET …/students/{student}/certificate.xml|pdf`.
    Document { school: String, cycle: String, student: String, pdf: bool },
    /// `GET /v1/jobs/{job}/download`: a finished download job's zip.
    JobZip { job: String },
}

impl Routes for Route {
    fn of(route: router::Route) -> Option<Self> {
        match route {
            router::Route::Download(r) => Some(r),
            _ => None,
        }
    }

    fn writes(&self) -> Option<(&str, Permission)> {
        None
    }

    fn answer<'a, X: Adapters>(
        self,
        api: &'a Api<X>,
        request: &'a Request<Bytes>,
        caller: Caller<'a>,
    ) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let id = caller.identity()?;
            match self {
                Route::All { school, cycle } => {
                    download_all(api, id, &school, &cycle, request, &id.actor(caller.request_id)).await
                }
                Route::JobZip { job } => job_zip(api, id, &job, wants_json(request)).await,
                Route::Document { school, cycle, student, pdf } => {
                    download_one(api, id, &school, &cycle, &student, pdf, wants_json(request)).await
                }
            }
        })
    }
}

impl FunctionRoutes for Route {
    const FUNCTION: Function = Function::DownloadCertificates;
}

/// Whether the client asked for the link as JSON (`Accept: application/json`)
/// rather than to be redirected: a browser's `fetch` with a bearer token
/// cannot follow a redirect to another origin.
fn wants_json(request: &Request<Bytes>) -> bool {
    request
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")))
}

/// `GET …/students/{student}/certificate.xml|pdf`: a redirect to a
/// short-lived link, or the link as JSON when the client asks for JSON.
async fn download_one<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
    control: &str,
    pdf: bool,
    json: bool,
) -> Answer {
    id.require(school, Permission::Ver)?;
    let c = latest_certificate(&api.records, id.tenant(), school, cycle, control).await?;
    let key = match (c.status, pdf) {
        (CertificateStatus::Timbrado | CertificateStatus::Cancelado, false) => c.artifacts.stamped_xml.clone(),
        (CertificateStatus::Timbrado | CertificateStatus::Cancelado, true) => c.artifacts.pdf.clone(),
        _ => None,
    };
    let Some(key) = key else {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "sin_timbrar",
            format!(
                "el certificado del alumno {control} está {}; solo se descargan certificados timbrados",
                c.status.label().to_lowercase()
            ),
        ));
    };
    link_or_redirect(api, id.tenant(), &key, json, json!({})).await
}

/// A short-lived link to `key` (with `extra` fields): as JSON, or as a redirect.
async fn link_or_redirect<X: Adapters>(api: &Api<X>, t: &Tenant, key: &str, json: bool, extra: Value) -> Answer {
    let link = bulk_zip::link(api, t, key, extra).await?;
    if json {
        return Ok(json_response(StatusCode::OK, &link));
    }
    let mut response = json_response(StatusCode::FOUND, &link);
    if let Some(v) = link["url"].as_str().and_then(|url| http::HeaderValue::from_str(url).ok()) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// `GET /v1/jobs/{job}/download`: the zip a finished download job stored.
async fn job_zip<X: Adapters>(api: &Api<X>, id: &Identity, job_id: &str, json: bool) -> Answer {
    let job = visible_job(api, id, job_id).await?;
    let JobWork::Download { zip, .. } = &job.work else {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "trabajo_sin_descarga",
            format!(
                "el trabajo {} es de tipo {}; solo los trabajos de descarga tienen un archivo",
                job.id,
                job.work.kind()
            ),
        ));
    };
    match job.status() {
        JobStatus::Terminado => {}
        JobStatus::EnCola | JobStatus::EnProceso => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "descarga_en_preparacion",
                "el archivo aún se está preparando; consulte el trabajo hasta que esté «terminado»",
            ));
        }
        JobStatus::Fallido | JobStatus::Cancelado => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "descarga_no_disponible",
                format!("el trabajo terminó {}: no dejó archivo; solicite la descarga de nuevo", job.status().as_str()),
            ));
        }
    }
    let key = ArtifactKind::BulkZip.key(zip);
    if !api.artifacts.exists(id.tenant(), &key).await? {
        return Err(Problem::new(
            StatusCode::GONE,
            "descarga_vencida",
            "el archivo de este trabajo ya no se conserva; solicite la descarga de nuevo",
        ));
    }
    link_or_redirect(api, id.tenant(), &key, json, json!({ "certificates": job.counts.get(IN_ZIP) })).await
}

/// What goes into a cycle's zip.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DownloadRequest {
    /// `xml+pdf` (the default) or `xml`.
    format: Option<String>,
    /// Which certificates: `timbrado`, `sellado`, `cancelado` (default: timbrado and cancelado).
    statuses: Option<Vec<String>>,
}

/// The zip's contents, as asked.
struct Contents {
    pdf: bool,
    statuses: Vec<CertificateStatus>,
}

impl Contents {
    fn of(request: &Request<Bytes>) -> Result<Contents, Problem> {
        let body: DownloadRequest = if request.body().is_empty() {
            DownloadRequest { format: None, statuses: None }
        } else {
            json_body(request)?
        };
        let pdf = match body.format.as_deref().map(str::trim) {
            None | Some("xml+pdf") => true,
            Some("xml") => false,
            Some(other) => {
                return Err(Problem::unprocessable(
                    "formato_invalido",
                    format!("el formato «{other}» no existe; use «xml+pdf» (XML y PDF) o «xml» (solo XML)"),
                ));
            }
        };
        let statuses = match body.statuses {
            None => vec![CertificateStatus::Timbrado, CertificateStatus::Cancelado],
            Some(names) => {
                let mut statuses = Vec::new();
                for name in &names {
                    match CertificateStatus::parse(name.trim()) {
                        Some(
                            s @ (CertificateStatus::Timbrado
                            | CertificateStatus::Sellado
                            | CertificateStatus::Cancelado),
                        ) => {
                            if !statuses.contains(&s) {
                                statuses.push(s)
                            }
                        }
                        _ => {
                            return Err(Problem::unprocessable(
                                "estado_invalido",
                                format!("«{name}» no se puede descargar; use timbrado, sellado o cancelado"),
                            ));
                        }
                    }
                }
                if statuses.is_empty() {
                    return Err(Problem::unprocessable("estado_invalido", "indique al menos un estado para descargar"));
                }
                statuses
            }
        };
        Ok(Contents { pdf, statuses })
    }

    /// The documents of `c` this zip takes: its XML (stamped, or the sealed
    /// one of a Sellado certificate) and, when asked, its PDF.
    fn of_certificate<'c>(&self, c: &'c CertificateRecord) -> Option<(&'c str, Option<&'c str>)> {
        if !self.statuses.contains(&c.status) {
            return None;
        }
        match c.status {
            CertificateStatus::Sellado => Some((c.artifacts.sealed_xml.as_deref()?, None)),
            _ => {
                let xml = c.artifacts.stamped_xml.as_deref()?;
                let pdf = c.artifacts.pdf.as_deref()?;
                Some((xml, self.pdf.then_some(pdf)))
            }
        }
    }
}

/// One certificate with its XML, its PDF when taken, and its holder's name.
async fn issued_documents<'c>(
    records: &impl StudentStore,
    artifacts: &impl ArtifactStore,
    t: &Tenant,
    c: &'c CertificateRecord,
    xml: &str,
    pdf: Option<&str>,
) -> Result<(&'c CertificateRecord, Vec<u8>, Option<Vec<u8>>, String), Problem> {
    let name = async {
        let student = records.student(t, &c.school_id, &c.cycle_id, &c.control_number).await?;
        Ok::<_, Problem>(student.map(|s| s.student.full_name()).unwrap_or_default())
    };
    let pdf = async {
        match pdf {
            Some(key) => document(artifacts, t, key).await.map(Some),
            None => Ok(None),
        }
    };
    let (xml, pdf, name) = futures_util::future::try_join3(document(artifacts, t, xml), pdf, name).await?;
    Ok((c, xml, pdf, name))
}

/// `POST …/certificates/download`: the school and cycle's certificates (all
/// plans) in the asked states and format, with a CSV manifest, as one zip.
async fn download_all<X: Adapters>(
    api: &Api<X>,
    id: &Identity,
    school: &str,
    cycle: &str,
    request: &Request<Bytes>,
    actor: &Actor,
) -> Answer {
    id.require(school, Permission::Ver)?;
    let contents = Contents::of(request)?;
    let t = id.tenant();
    let empty = || no_certificates(school, cycle);
    let taken = taken(api, t, school, cycle, &contents).await?;
    if taken.is_empty() {
        return Err(empty());
    }
    // Named by what it holds: asked again while no certificate changed, the
    // zip already stored is answered instead of being built again.
    let name = cycle_zip_name(school, cycle, &contents, &taken);
    let key = ArtifactKind::BulkZip.key(&name);
    if api.artifacts.exists(t, &key).await? {
        return link_answer(api, t, &key, taken.len(), json!({ "reused": true })).await;
    }
    if taken.len() > api.config.inline_download_limit {
        let statuses = contents.statuses.iter().map(|s| s.as_str().to_string()).collect();
        let work = JobWork::Download { pdf: contents.pdf, statuses, zip: name };
        return download_job(api, t, (school, cycle), work, taken.len(), actor).await;
    }
    let (zip, filled) = build_zip(api, t, &name, &contents, &taken).await?;
    zip.conclude(filled, empty, json!({ "reused": false })).await
}

/// A large cycle's zip as a job (one message; the worker builds it): the
/// job already preparing this very zip, if one is, or a new one.
async fn download_job<X: Adapters>(
    api: &Api<X>,
    t: &Tenant,
    (school, cycle): (&str, &str),
    work: JobWork,
    certificates: usize,
    actor: &Actor,
) -> Answer {
    let recent = api.records.cycle_jobs(t, school, cycle, RECENT_JOBS).await?;
    // The same name is the same zip: the same parameters over the same certificates.
    if let Some(job) = recent.iter().find(|j| !j.status().is_final() && j.work == work) {
        return Ok(jobs::accepted(job));
    }
    let job = Job::new(uuid::Uuid::new_v4().to_string(), school, cycle, work, certificates, actor.clone());
    let chunks = job.chunks_of(t, &[]);
    jobs::queue_job(api, t, job, &chunks, actor).await
}

/// A download job's zip, built by the worker from the cycle as it is now
/// under the name the request gave it; the certificates it holds.
pub(crate) async fn zip_for_job<X: Adapters>(
    api: &Api<X>,
    t: &Tenant,
    job: &Job,
    pdf: bool,
    statuses: &[String],
    name: &str,
) -> Result<usize, Problem> {
    let statuses = statuses.iter().filter_map(|s| CertificateStatus::parse(s)).collect();
    let contents = Contents { pdf, statuses };
    let taken = taken(api, t, &job.school_id, &job.cycle_id, &contents).await?;
    let (zip, filled) = build_zip(api, t, name, &contents, &taken).await?;
    Ok(zip.store(filled, || no_certificates(&job.school_id, &job.cycle_id)).await?.1)
}

/// The certificates of the school and cycle a zip as `contents` asks takes,
/// in matrícula order (records only, no documents).
async fn taken<X: Adapters>(
    api: &Api<X>,
    t: &Tenant,
    school: &str,
    cycle: &str,
    contents: &Contents,
) -> Result<Vec<CertificateRecord>, Problem> {
    let mut taken = Vec::new();
    let mut pages = CyclePages::new(&api.records, t, school, cycle, 100);
    while let Some(page) = pages.next().await? {
        taken.extend(page.into_iter().filter(|c| contents.of_certificate(c).is_some()));
    }
    Ok(taken)
}

fn no_certificates(school: &str, cycle: &str) -> Problem {
    Problem::not_found("sin_certificados", format!("no hay certificados emitidos en {school}, ciclo {cycle}"))
}

/// Writes the zip of `taken` as `contents` asks; what went wrong, if anything, is for
/// [`BulkZip::conclude`] to settle.
async fn build_zip<'a, X: Adapters>(
    api: &'a Api<X>,
    t: &'a Tenant,
    name: &str,
    contents: &Contents,
    taken: &[CertificateRecord],
) -> Result<(BulkZip<'a, X>, Result<(), Problem>), Problem> {
    let mut zip = BulkZip::named(
        api,
        t,
        name,
        &["matricula", "nombre", "plan", "estado", "folioControl", "folioDigital", "fechaExpedicion", "xml", "pdf"],
    )
    .await?;
    let filled = async {
        for chunk in taken.chunks(100) {
            let chosen = chunk.iter().filter_map(|c| contents.of_certificate(c).map(|(xml, pdf)| (c, xml, pdf)));
            // Documents are read a few certificates ahead while earlier ones are
            // zipped. (The futures are collected first: a closure inside the
            // stream would make the handler's future lose `Send`.)
            let reads: Vec<_> =
                chosen.map(|(c, xml, pdf)| issued_documents(&api.records, &api.artifacts, t, c, xml, pdf)).collect();
            let mut fetched = futures_util::stream::iter(reads).buffered(FETCH_AHEAD);
            while let Some(one) = fetched.next().await {
                let (c, xml, pdf, name) = one?;
                let folio = c.folio_digital.clone().unwrap_or_default();
                // A sealed certificate has no folio digital yet: it is named by its folio de control.
                let base = format!("{}/{}", c.control_number, if folio.is_empty() { &c.folio_control } else { &folio });
                let xml_name = format!("{base}.xml");
                zip.file(xml_name.clone(), &xml).await?;
                let pdf_name = match pdf {
                    Some(pdf) => {
                        let pdf_name = format!("{base}.pdf");
                        zip.file(pdf_name.clone(), &pdf).await?;
                        pdf_name
                    }
                    None => String::new(),
                };
                zip.row(&[
                    c.control_number.as_str(),
                    &name,
                    &c.plan_id,
                    c.status.label(),
                    &c.folio_control,
                    &folio,
                    &c.issue_date.to_string(),
                    &xml_name,
                    &pdf_name,
                ])?;
            }
        }
        Ok(())
    }
    .await;
    Ok((zip, filled))
}

/// A cycle zip's name from everything it holds: the format and states asked,
/// and each certificate taken with its version (any change — a certificate
/// stamped, cancelled, issued again — is a new version, so a new zip).
/// Holders' names in the manifest are read when it is built: the
/// certificates state the name as certified.
fn cycle_zip_name(school: &str, cycle: &str, contents: &Contents, taken: &[CertificateRecord]) -> String {
    let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    digest.update(if contents.pdf { b"xml+pdf\n" } else { b"xml\n" });
    for status in &contents.statuses {
        digest.update(status.label().as_bytes());
        digest.update(b"\n");
    }
    for c in taken {
        digest.update(format!("{}\t{}\n", c.id, c.version).as_bytes());
    }
    let hex: String = digest.finish().as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("ciclo-{school}-{cycle}-{hex}.zip")
}
