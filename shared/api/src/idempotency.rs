//! `Idempotency-Key` on mutating routes (Powertools-style): the first call
//! with a key runs and its successful answer is kept for 24 hours; a retry
//! gets that answer and changes nothing; a call still running answers 409
//! (its claim lapses a minute after it began, past any function's timeout,
//! so a call that died does not hold the key for a day); a failed call gives
//! the key up so it can be retried. A key is bound to the tenant, the
//! caller, the route as decoded and the body: the same key with another
//! body is a 422, never the first answer.

use crate::problem::Problem;
use bytes::Bytes;
use certifica_core::ports::IdempotencyStore;
use certifica_core::records::{IdempotencyState, Tenant};
use http::{HeaderValue, Request, Response, StatusCode, header};
use serde::{Deserialize, Serialize};

/// How long answers are kept.
const KEEP_HOURS: i64 = 24;

/// How long a claim whose call has not answered holds its key: the API's
/// functions time out at 29 s (API Gateway too), so a claim older than this
/// belongs to a call that died.
const IN_PROGRESS_SECONDS: i64 = 60;

/// The stored answer, with the fingerprint of the body that produced it.
#[derive(Serialize, Deserialize)]
struct Kept {
    status: u16,
    content_type: String,
    body: String,
    #[serde(default)]
    fingerprint: String,
    /// A 202's `Location` (the job it queued).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    location: Option<String>,
}

/// SHA-256 of the request's body, hex.
fn fingerprint(request: &Request<Bytes>) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, request.body());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The record key: the caller, the method and the route as decoded (so a
/// key is bound to one user, one route and list however the path was
/// encoded) and the client's key.
pub fn key(request: &Request<Bytes>, caller: &str, value: &HeaderValue) -> Result<String, Problem> {
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty() || key.len() > 100 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Problem::bad_request(
            "idempotency_key_invalida",
            "Idempotency-Key debe tener de 1 a 100 caracteres visibles (p. ej., un UUID)",
        ));
    }
    let route = crate::request::segments(request.uri().path())?.join("/");
    Ok(format!("{caller} {} /{route} {key}", request.method()))
}

/// Runs `call` once per `key`.
pub async fn once<S: IdempotencyStore>(
    store: &S,
    tenant: &Tenant,
    key: &str,
    request: &Request<Bytes>,
    call: impl Future<Output = Result<Response<Bytes>, Problem>>,
) -> Result<Response<Bytes>, Problem> {
    let fingerprint = fingerprint(request);
    match store.begin(tenant, key, chrono::Duration::seconds(IN_PROGRESS_SECONDS)).await? {
        IdempotencyState::InProgress => Err(Problem::new(
            StatusCode::CONFLICT,
            "solicitud_en_proceso",
            "una solicitud con la misma Idempotency-Key sigue en proceso; espere su respuesta",
        )),
        IdempotencyState::Completed(kept) => {
            let kept: Kept = serde_json::from_str(&kept).map_err(|_| {
                Problem::new(StatusCode::CONFLICT, "idempotency_key_usada", "la Idempotency-Key ya se usó; envíe otra")
            })?;
            if !kept.fingerprint.is_empty() && kept.fingerprint != fingerprint {
                return Err(Problem::unprocessable(
                    "clave_reutilizada",
                    "esta Idempotency-Key ya se usó con otro contenido; envíe una clave nueva para una solicitud distinta",
                ));
            }
            let mut response = Response::new(Bytes::from(kept.body));
            *response.status_mut() = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
            if let Ok(v) = HeaderValue::from_str(&kept.content_type) {
                response.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            if let Some(v) = kept.location.as_deref().and_then(|l| HeaderValue::from_str(l).ok()) {
                response.headers_mut().insert(header::LOCATION, v);
            }
            response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(response)
        }
        IdempotencyState::Started => {
            let answer = call.await;
            match &answer {
                Ok(response) if response.status().is_success() => {
                    let kept = Kept {
                        status: response.status().as_u16(),
                        content_type: response
                            .headers()
                            .get(header::CONTENT_TYPE)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("application/json")
                            .to_string(),
                        body: String::from_utf8_lossy(response.body()).into_owned(),
                        fingerprint,
                        location: response
                            .headers()
                            .get(header::LOCATION)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string),
                    };
                    let kept = serde_json::to_string(&kept).unwrap_or_default();
                    // The work is done: a record that cannot be written loses the replay, not the answer.
                    if let Err(e) = store.complete(tenant, key, &kept, chrono::Duration::hours(KEEP_HOURS)).await {
                        tracing::warn!(error = %e, "idempotency record not kept");
                    }
                }
                _ => {
                    if let Err(e) = store.abandon(tenant, key).await {
                        tracing::warn!(error = %e, "idempotency claim not given up; it lapses by itself");
                    }
                }
            }
            answer
        }
    }
}
