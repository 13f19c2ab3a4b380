//! Errors as `application/problem+json` (RFC 9457): a stable machine
//! `code`, a short `title` and a Spanish `detail` a school clerk can act on.
//! Every failure of every route is mapped here, once.

use bytes::Bytes;
use certifica_core::identity::AccessError;
use certifica_core::ports::StoreError;
use certifica_core::roster::InvalidCursor;
use http::{Response, StatusCode, header};
use serde_json::{Value, json};

/// A failed request.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Extension members (e.g. the list of problems of a record).
    pub extra: Option<(&'static str, Value)>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Problem { status, code, detail: detail.into(), extra: None }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_FOUND, code, detail)
    }

    pub fn with(mut self, name: &'static str, value: Value) -> Self {
        self.extra = Some((name, value));
        self
    }

    fn title(&self) -> &'static str {
        match self.status {
            StatusCode::BAD_REQUEST => "Solicitud no válida",
            StatusCode::UNAUTHORIZED => "No autenticado",
            StatusCode::FORBIDDEN => "Sin permiso",
            StatusCode::NOT_FOUND => "No encontrado",
            StatusCode::METHOD_NOT_ALLOWED => "Método no permitido",
            StatusCode::CONFLICT => "Conflicto",
            StatusCode::PAYLOAD_TOO_LARGE => "Solicitud demasiado grande",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "Tipo de contenido no admitido",
            StatusCode::UNPROCESSABLE_ENTITY => "Datos no válidos",
            StatusCode::SERVICE_UNAVAILABLE => "Servicio no disponible",
            _ => "Error",
        }
    }

    pub fn into_response(self) -> Response<Bytes> {
        let mut body = json!({
            "type": format!("https://certifica.mx/problemas/{}", self.code),
            "title": self.title(),
            "status": self.status.as_u16(),
            "code": self.code,
            "detail": self.detail,
        });
        // An extension never replaces a member of the problem (its status is the HTTP status).
        if let (Some((name, value)), Some(map)) = (self.extra, body.as_object_mut())
            && !map.contains_key(name)
        {
            map.insert(name.to_string(), value);
        }
        let mut response = Response::new(Bytes::from(body.to_string()));
        *response.status_mut() = self.status;
        response.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/problem+json"));
        response
    }
}

impl From<AccessError> for Problem {
    fn from(e: AccessError) -> Self {
        let status = match e {
            AccessError::Unauthenticated | AccessError::NoInstitution => StatusCode::UNAUTHORIZED,
            AccessError::UnknownSchool(_) => StatusCode::NOT_FOUND,
            AccessError::Forbidden { .. } => StatusCode::FORBIDDEN,
        };
        Problem::new(status, e.code(), e.to_string())
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        let status = match e {
            StoreError::NotFound(_) => StatusCode::NOT_FOUND,
            StoreError::Conflict | StoreError::AlreadyIssued(_) | StoreError::ReservationGone(_) => {
                StatusCode::CONFLICT
            }
            StoreError::NoCredits => StatusCode::CONFLICT,
            StoreError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        if let StoreError::Unavailable(cause) = &e {
            tracing::error!(%cause, "storage unavailable");
            // The cause is for the logs; the clerk gets what to do.
            return Problem::new(
                status,
                e.code(),
                "el almacenamiento no está disponible por el momento; intente de nuevo en unos minutos",
            );
        }
        Problem::new(status, e.code(), e.to_string())
    }
}

impl From<InvalidCursor> for Problem {
    fn from(e: InvalidCursor) -> Self {
        Problem::bad_request("cursor_invalido", e.to_string())
    }
}

/// A JSON response with `status`.
pub fn json_response(status: StatusCode, value: &Value) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extension_never_replaces_the_status_or_the_code() {
        let response =
            Problem::not_found("folio_desconocido", "no existe").with("status", json!("desconocido")).into_response();
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(
            (response.status(), &body["status"], &body["code"]),
            (StatusCode::NOT_FOUND, &json!(404), &json!("folio_desconocido"))
        );
        let with_list = Problem::unprocessable("datos", "x").with("problems", json!([1])).into_response();
        let body: Value = serde_json::from_slice(with_list.body()).unwrap();
        assert_eq!((&body["status"], &body["problems"]), (&json!(422), &json!([1])));
    }
}
