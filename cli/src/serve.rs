//! `certifica serve` and `certifica token`: every API route on localhost
//! with the embedded adapters (SQLite file and folders under `--data`),
//! and development tokens signed with a key kept in the same folder.

use crate::commands::CliError;
use crate::demo;
use crate::web;
use base64::Engine;
use bytes::Bytes;
use certifica_api::upload::{UploadEvent, UploadOutcome, process_upload};
use certifica_api::{Api, Config, MAX_BODY_BYTES, Problem};
use certifica_core::identity::{AccessError, Identity, Permission};
use certifica_core::ports::{CreditStore, InstitutionStore, StudentStore};
use certifica_core::records::{Actor, Cycle, SignerConfig, Tenant};
use certifica_core::secretbox::SecretBox;
use certifica_core::stamping::{Failure, LocalAuthority};
use certifica_core::trust::SignerCas;
use certifica_local::{Local, LocalArtifacts, LocalInbox, LocalOutbox, LocalRecords};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

const ISSUER: &str = "certifica-local";
const AUDIENCE: &str = "certifica";
/// Header that makes the simulated authority fail the next stamp (`no-disponible` or `rechazo`).
pub const SIMULATE_HEADER: &str = "x-simular-autoridad";

/// The demo's cycle, where its students are loaded.
pub const DEMO_CYCLE: &str = "2026";

/// The secrets of a local installation, derived from one random key in the data folder.
struct Secrets {
    jwt: Vec<u8>,
    cursor: Vec<u8>,
    links: Vec<u8>,
    /// Seals signers' passwords at rest.
    secrets: [u8; 32],
}

fn derive(master: &[u8], purpose: &str) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, master);
    aws_lc_rs::hmac::sign(&key, purpose.as_bytes()).as_ref().to_vec()
}

/// Reads the data folder's key, creating folder and key on first use.
fn secrets(data: &Path) -> Result<Secrets, CliError> {
    certifica_local::private::create_dir_all(data).map_err(|e| CliError::Write(data.into(), e.to_string()))?;
    let path = data.join("secret.key");
    let master = match std::fs::read(&path) {
        Ok(bytes) if bytes.len() == 32 => bytes,
        Ok(_) => return Err(CliError::Write(path, "la llave local está dañada (se esperaban 32 bytes)".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = vec![0u8; 32];
            aws_lc_rs::rand::fill(&mut bytes).map_err(|_| CliError::Write(path.clone(), "sin aleatoriedad".into()))?;
            certifica_local::private::create_new(&path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, &bytes))
                .map_err(|e| CliError::Write(path.clone(), e.to_string()))?;
            bytes
        }
        Err(e) => return Err(CliError::Write(path, e.to_string())),
    };
    let mut secrets = [0u8; 32];
    secrets.copy_from_slice(&derive(&master, "secretos"));
    Ok(Secrets {
        jwt: derive(&master, "jwt"),
        cursor: derive(&master, "cursor"),
        links: derive(&master, "enlaces"),
        secrets,
    })
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    email: Option<String>,
    institution: String,
    permissions: String,
    iss: String,
    aud: String,
    iat: i64,
    nbf: i64,
    exp: i64,
}

/// A development token for `institution` with `perms` in each of `schools`.
pub fn mint(
    data: &Path,
    institution: &str,
    schools: &[String],
    perms: &[Permission],
    ttl: chrono::Duration,
    email: &str,
) -> Result<String, CliError> {
    let secrets = secrets(data)?;
    let grants: Vec<(&str, Permission)> =
        schools.iter().flat_map(|s| perms.iter().map(move |p| (s.as_str(), *p))).collect();
    let now = chrono::Utc::now();
    let claims = Claims {
        sub: email.to_string(),
        email: Some(email.to_string()),
        institution: institution.to_string(),
        permissions: Identity::permissions_claim(&grants),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        iat: now.timestamp(),
        nbf: now.timestamp(),
        exp: (now + ttl).timestamp(),
    };
    let key = jsonwebtoken::EncodingKey::from_secret(&secrets.jwt).map_err(|e| CliError::Token(e.to_string()))?;
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &key)
        .map_err(|e| CliError::Token(e.to_string()))
}

/// The identity of a request's bearer token, verified with the local key.
fn identity(headers: &http::HeaderMap, key: &jsonwebtoken::DecodingKey) -> Result<Identity, AccessError> {
    let token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(AccessError::Unauthenticated)?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    // A token is good only between its nbf and exp (60 s of clock leeway each side).
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud"]);
    let claims = jsonwebtoken::decode::<Claims>(token.trim(), key, &validation)
        .map_err(|_| AccessError::Unauthenticated)?
        .claims;
    Identity::from_claims(&claims.sub, claims.email.as_deref(), Some(&claims.institution), Some(&claims.permissions))
}

type LocalApi = Api<Local>;

/// Loads the demo institutions once (skipped when already there), with the
/// demo e.firma registered as every school's signer.
async fn seed_demo(records: &LocalRecords, secret_box: &SecretBox) -> Result<bool, CliError> {
    let store = |e: certifica_core::ports::StoreError| CliError::Store(e.to_string());
    let mut seeded = false;
    for d in demo::demo_institutions() {
        let t = Tenant::from_verified_identity(&d.institution.id);
        if records.institution(&t).await.map_err(store)?.is_some() {
            continue;
        }
        let efirma = demo::demo_efirma()?;
        for school in &d.schools {
            records.put_school(&t, school).await.map_err(store)?;
            let cycle = Cycle { id: DEMO_CYCLE.into(), school_id: school.id.clone(), name: "2025-2026".into() };
            records.put_cycle(&t, &cycle).await.map_err(store)?;
            let context = format!("firmante/{}/{}", t.id(), school.id);
            let signer = SignerConfig {
                school_id: school.id.clone(),
                responsable: d.responsable.clone(),
                certificate_number: efirma.certificate().number().value.clone(),
                cer_base64: base64::engine::general_purpose::STANDARD.encode(demo::DEMO_CER),
                key_base64: base64::engine::general_purpose::STANDARD.encode(demo::DEMO_KEY),
                password_sealed: secret_box
                    .seal(demo::DEMO_PASSWORD, &context)
                    .map_err(|e| CliError::Store(e.to_string()))?,
                registered_by: "demo".into(),
                registered_at: chrono::Utc::now(),
            };
            records.put_signer(&t, &signer).await.map_err(store)?;
        }
        for plan in &d.plans {
            records.put_plan(&t, plan).await.map_err(store)?;
            let students: Vec<_> = d.students.iter().filter(|s| s.plan_id == plan.id).cloned().collect();
            records.put_students(&t, &plan.school_id, DEMO_CYCLE, &students).await.map_err(store)?;
        }
        records.add_credits(&t, 100, &Actor::new("demo", "carga-demo")).await.map_err(store)?;
        // Last: its presence marks the institution as loaded.
        records.put_institution(&t, &d.institution).await.map_err(store)?;
        seeded = true;
    }
    Ok(seeded)
}

/// A demo user the sign-in page offers (`--demo` only).
#[derive(Debug, Serialize)]
struct DemoUser {
    name: &'static str,
    institution: &'static str,
    description: &'static str,
    token: String,
}

/// The demo users, each with a token for the sign-in page.
fn demo_users(data: &Path) -> Result<Vec<DemoUser>, CliError> {
    demo::DEMO_LOGINS
        .iter()
        .map(|l| {
            let schools: Vec<String> = l.schools.iter().map(|s| s.to_string()).collect();
            let token = mint(data, l.institution, &schools, l.permissions, chrono::Duration::hours(8), l.email)?;
            Ok(DemoUser { name: l.name, institution: l.institution_name, description: l.description, token })
        })
        .collect()
}

/// Runs the local server until interrupted.
pub fn serve(
    addr: SocketAddr,
    data: &Path,
    demo_data: bool,
    web: &Path,
    trust_signer_ca: &[PathBuf],
    inline_download_limit: usize,
) -> Result<ExitCode, CliError> {
    if !addr.ip().is_loopback() {
        return Err(CliError::Serve(format!(
            "{addr} no es una dirección local; el servidor de desarrollo solo escucha en 127.0.0.1"
        )));
    }
    let signer_cas = signer_cas(trust_signer_ca)?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| CliError::Serve(e.to_string()))?;
    runtime.block_on(run(addr, data.to_path_buf(), demo_data, web.to_path_buf(), signer_cas, inline_download_limit))
}

/// The demo CA (which issued the demo e.firma) and the CAs of `files`.
fn signer_cas(files: &[PathBuf]) -> Result<SignerCas, CliError> {
    let mut cas = SignerCas::demo();
    for file in files {
        let bytes = std::fs::read(file).map_err(|e| CliError::Read(file.clone(), e.to_string()))?;
        cas.add(&bytes).map_err(|e| CliError::Read(file.clone(), format!("autoridad certificadora: {e}")))?;
    }
    Ok(cas)
}

/// What every connection shares.
struct Server {
    api: LocalApi,
    key: jsonwebtoken::DecodingKey,
    /// The web client's folder.
    web: PathBuf,
    /// The sign-in page's demo users (`--demo`), as JSON.
    demo_users: Option<String>,
}

async fn run(
    addr: SocketAddr,
    data: PathBuf,
    demo_data: bool,
    web: PathBuf,
    signer_cas: SignerCas,
    inline_download_limit: usize,
) -> Result<ExitCode, CliError> {
    let secrets = secrets(&data)?;
    let store = |e: certifica_core::ports::StoreError| CliError::Store(e.to_string());
    let secret_box = || SecretBox::new(&secrets.secrets).map_err(|e| CliError::Store(e.to_string()));
    let records = LocalRecords::open(&data.join("certifica.db")).map_err(store)?;
    if demo_data && seed_demo(&records, &secret_box()?).await? {
        eprintln!("Datos de demostración cargados en {}", data.display());
    }
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| CliError::Serve(format!("{addr}: {e}")))?;
    let bound = listener.local_addr().map_err(|e| CliError::Serve(e.to_string()))?;
    let base = format!("http://{bound}");
    let artifacts =
        LocalArtifacts::new(&data.join("documentos"), format!("{base}/files/"), &secrets.links).map_err(store)?;
    let stamper = LocalAuthority::simulated_sep()?;
    // The QR codes point to the web client's verification page.
    let mut config = Config::new(&secrets.cursor, secret_box()?, format!("{base}/verificar/?folio="))
        .trusting(stamper.certificate().clone())
        .trusting_signer_cas(signer_cas);
    config.inline_download_limit = inline_download_limit;
    // Mail goes to the outbox folder, one .eml per message.
    let sender = certifica_core::mail::Sender {
        name: "Certificación electrónica".into(),
        address: "certificados@certifica.local".into(),
    };
    let outbox = LocalOutbox::new(&data.join("bandeja-de-salida"), sender)
        .map_err(|e| CliError::Write(data.join("bandeja-de-salida"), e.to_string()))?;
    // What a stopped server held is free at once: the chunks it had taken,
    // and the credits its attempts held (settled by the next attempt).
    records.lapse_held_credits().await.map_err(store)?;
    let resumed = records.free_taken_chunks().await.map_err(store)?;
    if resumed > 0 {
        println!("Trabajos pendientes: {resumed} bloques en cola; continúan ahora");
    }
    let api = LocalApi::with_queue(records.clone(), artifacts, stamper, outbox, records, config);
    let inbox = LocalInbox::new(&data).map_err(store)?;
    println!(
        "Bandeja de entrada: {} (suba los archivos a {{institución}}/{{escuela}}/{{ciclo}}/)",
        inbox.folder().display()
    );
    let key = jsonwebtoken::DecodingKey::from_secret(&secrets.jwt).map_err(|e| CliError::Token(e.to_string()))?;
    let users = if demo_data { Some(demo_users(&data)?) } else { None };
    let demo_users = users.as_ref().map(|u| serde_json::json!({ "users": u }).to_string());
    let server = Arc::new(Server { api, key, web, demo_users });
    tokio::spawn(watch_inbox(server.clone(), inbox));
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    for _ in 0..cores * JOB_WORKERS_PER_CORE {
        let server = server.clone();
        tokio::spawn(async move { crate::worker::work(&server.api, server.api.queue()).await });
    }
    println!("Certifica escucha en {base}");
    if let Some(first) = users.as_ref().and_then(|u| u.first()) {
        println!("Abra la vista de certificación (sesión de {}): {base}/#token={}", first.name, first.token);
        println!("Otros usuarios de demostración: {base}/acceso.html");
        println!("Token de demostración (Universidad del Valle de Anáhuac, 8 h):\n{}", first.token);
    } else {
        println!("Vista de certificación: {base}/ (inicie sesión con un token de «certifica token»)");
    }
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted.map_err(|e| CliError::Serve(e.to_string()))?,
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        };
        let server = server.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: http::Request<Incoming>| {
                let server = server.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&server, request).await) }
            });
            if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                eprintln!("conexión cerrada con error: {e}");
            }
        });
    }
}

/// Chunks of jobs worked at once, per core: a certificate leaves its core
/// while its documents and records are written (fsync, the SQLite writer),
/// and the chunks beside it fill that time (a class of 1,000 on disk: 2.2 s
/// with one per core, 2.0 s with three; five were no better —
/// docs/performance.md §2b).
const JOB_WORKERS_PER_CORE: usize = 3;

/// How often the inbox folder is looked at.
const INBOX_POLL: std::time::Duration = std::time::Duration::from_secs(1);
/// A file must be this still before it is taken (it may still be being copied).
const INBOX_QUIET: std::time::Duration = std::time::Duration::from_millis(500);
/// After a transient failure, wait this long before trying the file again.
const INBOX_RETRY: std::time::Duration = std::time::Duration::from_secs(30);

/// Watches `DATA/inbox/` and handles every new file exactly as the
/// `stamp-on-upload` Lambda handles an S3 upload (same code, same reports).
async fn watch_inbox(server: Arc<Server>, inbox: LocalInbox) {
    let api = &server.api;
    let mut retry_at: std::collections::HashMap<String, std::time::Instant> = std::collections::HashMap::new();
    let mut tick = tokio::time::interval(INBOX_POLL);
    loop {
        tick.tick().await;
        let waiting = match inbox.waiting(INBOX_QUIET) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("bandeja de entrada: {e}");
                continue;
            }
        };
        let now = std::time::Instant::now();
        retry_at.retain(|_, at| *at > now);
        for file in waiting {
            if retry_at.contains_key(&file.key) {
                continue;
            }
            let event =
                UploadEvent { key: file.key.clone(), version: Some(file.version), etag: None, invocation: None };
            match Box::pin(process_upload(api, &inbox, &event)).await {
                Ok(report) => {
                    let outcome = match report.outcome {
                        UploadOutcome::Procesado => "procesado",
                        UploadOutcome::Rechazado => "rechazado",
                        UploadOutcome::Repetido => "repetido",
                        UploadOutcome::Inexistente => continue,
                    };
                    println!(
                        "bandeja de entrada: {} {outcome} → {}",
                        file.key,
                        report.moved_to.as_deref().unwrap_or("-")
                    );
                    if let Some(message) = &report.message {
                        println!("  {message}");
                    }
                    for d in &report.documents {
                        println!(
                            "  {} {} {}",
                            d.file,
                            d.status,
                            d.folio_digital.as_deref().or(d.message.as_deref()).unwrap_or_default()
                        );
                    }
                }
                Err(retry) => {
                    eprintln!("bandeja de entrada: {retry}");
                    retry_at.insert(file.key, now + INBOX_RETRY);
                }
            }
        }
    }
}

fn problem(status: http::StatusCode, code: &'static str, detail: &str) -> http::Response<Full<Bytes>> {
    let (parts, body) = Problem::new(status, code, detail).into_response().into_parts();
    http::Response::from_parts(parts, Full::new(body))
}

async fn answer(server: &Server, request: http::Request<Incoming>) -> http::Response<Full<Bytes>> {
    let (api, key) = (&server.api, &server.key);
    let request_id = uuid::Uuid::new_v4().to_string();
    let path = request.uri().path();
    if request.method() == http::Method::GET {
        if let Some(token) = path.strip_prefix("/files/") {
            return file(api, token);
        }
        if path == "/local/demo-users" {
            return match &server.demo_users {
                Some(users) => {
                    let mut response = http::Response::new(Full::new(Bytes::from(users.clone())));
                    let headers = response.headers_mut();
                    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
                    headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
                    response
                }
                None => problem(
                    http::StatusCode::NOT_FOUND,
                    "sin_usuarios_de_demostracion",
                    "el servidor no se inició con --demo; entre con un token de «certifica token»",
                ),
            };
        }
        if !path.starts_with("/v1/") {
            return match web::resolve(&server.web, path).and_then(|f| web::file(&server.web, &f)) {
                Some(response) => response,
                None => problem(http::StatusCode::NOT_FOUND, "pagina_no_encontrada", "no existe esa página"),
            };
        }
    }
    let (parts, body) = request.into_parts();
    let identity = identity(&parts.headers, key);
    // Local mode only: the simulated authority can be told to fail the next
    // stamp, to try the Error → retry path by hand or in end-to-end tests —
    // by a signed-in caller, for its own institution's documents only.
    let simulated = match parts.headers.get(SIMULATE_HEADER).and_then(|v| v.to_str().ok()) {
        Some("no-disponible") => Some(Failure::Unavailable),
        Some("rechazo") => Some(Failure::Reject("documento rechazado (simulado)".into())),
        _ => None,
    };
    if let (Some(failure), Ok(caller)) = (simulated, &identity)
        && let Ok(Some(institution)) = api.records().institution(caller.tenant()).await
    {
        api.stamper().fail_next_for(&institution.mec_id, failure);
    }
    let response = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => {
            let request = http::Request::from_parts(parts, collected.to_bytes());
            api.handle(request, identity, &request_id).await
        }
        Err(_) => Problem::new(
            http::StatusCode::PAYLOAD_TOO_LARGE,
            "cuerpo_demasiado_grande",
            format!("el cuerpo supera el máximo de {MAX_BODY_BYTES} bytes"),
        )
        .into_response(),
    };
    let (mut parts, body) = response.into_parts();
    if let Ok(v) = http::HeaderValue::from_str(&request_id) {
        parts.headers.insert("x-request-id", v);
    }
    http::Response::from_parts(parts, Full::new(body))
}

/// Serves a short-lived document link (`/files/{token}`) made by the artifacts folder.
fn file(api: &LocalApi, token: &str) -> http::Response<Full<Bytes>> {
    let target = match api.artifacts().resolve_link(token, chrono::Utc::now()) {
        Ok(t) => t,
        Err(e) => return problem(http::StatusCode::FORBIDDEN, "enlace_invalido", &e.to_string()),
    };
    match api.artifacts().open_link(token, chrono::Utc::now()) {
        Ok(Some(bytes)) => {
            let content_type = if target.key.ends_with(".pdf") {
                "application/pdf"
            } else if target.key.ends_with(".zip") {
                "application/zip"
            } else {
                "application/xml"
            };
            let name = target.key.rsplit('/').next().unwrap_or("documento");
            let mut response = http::Response::new(Full::new(Bytes::from(bytes)));
            response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
            if let Ok(v) = http::HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                response.headers_mut().insert(http::header::CONTENT_DISPOSITION, v);
            }
            response
        }
        Ok(None) => problem(http::StatusCode::NOT_FOUND, "documento_no_encontrado", "el documento ya no existe"),
        Err(e) => problem(http::StatusCode::FORBIDDEN, "enlace_invalido", &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(nbf: i64, exp: i64, aud: &str) -> Claims {
        Claims {
            sub: "clerk@uva.mx".into(),
            email: Some("clerk@uva.mx".into()),
            institution: "uva".into(),
            permissions: Identity::permissions_claim(&[("norte", Permission::Ver)]),
            iss: ISSUER.into(),
            aud: aud.into(),
            iat: nbf,
            nbf,
            exp,
        }
    }

    fn bearer(token: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        headers
    }

    fn sign<T: Serialize>(claims: &T) -> String {
        let key = jsonwebtoken::EncodingKey::from_secret(b"clave de prueba").unwrap();
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), claims, &key).unwrap()
    }

    #[test]
    fn a_token_is_accepted_only_between_its_nbf_and_exp_for_this_server() {
        let key = jsonwebtoken::DecodingKey::from_secret(b"clave de prueba").unwrap();
        let now = chrono::Utc::now().timestamp();
        let check = |c: &Claims| identity(&bearer(&sign(c)), &key);
        assert_eq!(check(&claims(now, now + 600, AUDIENCE)).unwrap().tenant().id(), "uva");
        let not_yet = claims(now + 3600, now + 7200, AUDIENCE);
        assert!(matches!(check(&not_yet), Err(AccessError::Unauthenticated)), "nbf in an hour");
        assert!(
            matches!(check(&claims(now - 7200, now - 3600, AUDIENCE)), Err(AccessError::Unauthenticated)),
            "expired"
        );
        assert!(matches!(check(&claims(now, now + 600, "otra-api")), Err(AccessError::Unauthenticated)), "audience");
        // A token without nbf is not one this server mints.
        let mut without = serde_json::to_value(claims(now, now + 600, AUDIENCE)).unwrap();
        without.as_object_mut().unwrap().remove("nbf");
        assert!(matches!(identity(&bearer(&sign(&without)), &key), Err(AccessError::Unauthenticated)));
    }
}
