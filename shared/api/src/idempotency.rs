//! `Idempotency-Key` on mutating routes (Powertools-style): the first call
//! with a key runs and its successful answer is kept for 24 hours; a retry
//! gets that answer and changes nothing; a call still running answers 409;
//! a failed call gives the key up so it can be retried.

use crate::problem::Problem;
use bytes::Bytes;
use certifica_core::ports::IdempotencyStore;
use certifica_core::records::{IdempotencyState, Tenant};
use http::{HeaderValue, Request, Response, StatusCode, header};
use serde::{Deserialize, Serialize};

/// How long answers are kept.
const KEEP_HOURS: i64 = 24;

/// The stored answer.
#[derive(Serialize, Deserialize)]
struct Kept {
    status: u16,
    content_type: String,
    body: String,
}

/// The record key: the method and path (so a key is bound to one route and
/// list) and the client's key.
pub fn key(request: &Request<Bytes>, value: &HeaderValue) -> Result<String, Problem> {
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty() || key.len() > 100 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Problem::bad_request(
            "idempotency_key_invalida",
            "Idempotency-Key debe tener de 1 a 100 caracteres visibles (p. ej., un UUID)",
        ));
    }
    Ok(format!("{} {} {key}", request.method(), request.uri().path()))
}

/// Runs `call` once per `key`.
pub async fn once<S: IdempotencyStore>(
    store: &S,
    tenant: &Tenant,
    key: &str,
    call: impl Future<Output = Result<Response<Bytes>, Problem>>,
) -> Result<Response<Bytes>, Problem> {
    match store.begin(tenant, key, chrono::Duration::hours(KEEP_HOURS)).await? {
        IdempotencyState::InProgress => Err(Problem::new(
            StatusCode::CONFLICT,
            "solicitud_en_proceso",
            "una solicitud con la misma Idempotency-Key sigue en proceso; espere su respuesta",
        )),
        IdempotencyState::Completed(kept) => {
            let kept: Kept = serde_json::from_str(&kept).map_err(|_| {
                Problem::new(StatusCode::CONFLICT, "idempotency_key_usada", "la Idempotency-Key ya se usó; envíe otra")
            })?;
            let mut response = Response::new(Bytes::from(kept.body));
            *response.status_mut() = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
            if let Ok(v) = HeaderValue::from_str(&kept.content_type) {
                response.headers_mut().insert(header::CONTENT_TYPE, v);
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
                    };
                    let kept = serde_json::to_string(&kept).unwrap_or_default();
                    store.complete(tenant, key, &kept).await?;
                }
                _ => store.abandon(tenant, key).await?,
            }
            answer
        }
    }
}
