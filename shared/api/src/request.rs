//! Reading requests: path segments, query parameters and JSON bodies, each
//! failure a specific 4xx.

use crate::problem::Problem;
use bytes::Bytes;
use http::{Request, StatusCode, header};
use serde::de::DeserializeOwned;
use std::collections::HashMap;

/// Largest request body accepted (a whole class with grades fits easily).
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// The path's segments, percent-decoded.
pub fn segments(path: &str) -> Result<Vec<String>, Problem> {
    path.trim_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| Problem::bad_request("ruta_invalida", "la ruta contiene caracteres no válidos"))
        })
        .collect()
}

/// The query parameters; a parameter given twice is refused.
pub fn query(request: &Request<Bytes>, allowed: &[&str]) -> Result<HashMap<String, String>, Problem> {
    let mut out = HashMap::new();
    for (k, v) in form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes()) {
        if !allowed.contains(&k.as_ref()) {
            return Err(Problem::bad_request(
                "parametro_desconocido",
                format!("el parámetro «{k}» no existe; se admiten: {}", allowed.join(", ")),
            ));
        }
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(Problem::bad_request(
                "parametro_repetido",
                format!("el parámetro «{k}» aparece más de una vez"),
            ));
        }
    }
    Ok(out)
}

/// The body as JSON of type `T` (unknown fields refused by `T`).
pub fn json_body<T: DeserializeOwned>(request: &Request<Bytes>) -> Result<T, Problem> {
    let body = request.body();
    if body.len() > MAX_BODY_BYTES {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "cuerpo_demasiado_grande",
            format!("el cuerpo mide {} bytes; el máximo es {MAX_BODY_BYTES}", body.len()),
        ));
    }
    if let Some(ct) = request.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        if !ct.starts_with("application/json") {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "tipo_de_contenido",
                format!("se esperaba «application/json» y llegó «{ct}»"),
            ));
        }
    }
    if body.is_empty() {
        return Err(Problem::bad_request("cuerpo_vacio", "la solicitud no tiene cuerpo; envíe un documento JSON"));
    }
    serde_json::from_slice(body).map_err(|e| Problem::bad_request("json_invalido", explain(&e)))
}

/// serde's message, in Spanish, with where it happened.
fn explain(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let field = |prefix: &str| message.strip_prefix(prefix).and_then(|rest| rest.split('`').next()).map(str::to_string);
    let what = if let Some(f) = field("unknown field `") {
        format!("el campo «{f}» no existe")
    } else if let Some(f) = field("missing field `") {
        format!("falta el campo obligatorio «{f}»")
    } else if let Some(rest) = message.strip_prefix("invalid type: ") {
        format!("un valor tiene un tipo incorrecto ({})", rest.split(" at line").next().unwrap_or(rest))
    } else if let Some(rest) = message.strip_prefix("invalid value: ") {
        format!("un valor no es válido ({})", rest.split(" at line").next().unwrap_or(rest))
    } else if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (value, expected) = rest.split_once("`, expected ").unwrap_or((rest, ""));
        format!("el valor «{value}» no es válido; se espera {}", expected.split(" at line").next().unwrap_or(expected))
    } else if e.is_syntax() || e.is_eof() {
        "el cuerpo no es JSON válido".to_string()
    } else {
        format!("el cuerpo no es válido ({})", message.split(" at line").next().unwrap_or(&message))
    };
    format!("{what} (línea {}, columna {})", e.line(), e.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        students: Vec<String>,
        motive: Option<u32>,
    }

    fn post(body: &str) -> Request<Bytes> {
        Request::builder().header("content-type", "application/json").body(Bytes::from(body.to_string())).unwrap()
    }

    #[test]
    fn json_mistakes_are_explained_in_spanish() {
        let err = |b: &str| json_body::<Sample>(&post(b)).unwrap_err().detail;
        assert_eq!(err(r#"{"students":[],"x":1}"#), "el campo «x» no existe (línea 1, columna 18)");
        assert!(err("{}").starts_with("falta el campo obligatorio «students»"));
        assert!(err(r#"{"students":"A1"}"#).starts_with("un valor tiene un tipo incorrecto"));
        assert!(err("{").starts_with("el cuerpo no es JSON válido"));
        assert_eq!(json_body::<Sample>(&post("")).unwrap_err().code, "cuerpo_vacio");
    }

    #[test]
    fn other_media_types_and_big_bodies_are_refused() {
        let xml = Request::builder().header("content-type", "text/xml").body(Bytes::from("<a/>")).unwrap();
        assert_eq!(json_body::<Sample>(&xml).unwrap_err().status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let big = post(&" ".repeat(MAX_BODY_BYTES + 1));
        assert_eq!(json_body::<Sample>(&big).unwrap_err().status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn unknown_and_repeated_parameters_are_refused() {
        let r = |q: &str| Request::builder().uri(format!("/x?{q}")).body(Bytes::new()).unwrap();
        assert_eq!(query(&r("plan=a&limit=5"), &["plan", "limit"]).unwrap().len(), 2);
        assert_eq!(query(&r("plam=a"), &["plan"]).unwrap_err().code, "parametro_desconocido");
        assert_eq!(query(&r("plan=a&plan=b"), &["plan"]).unwrap_err().code, "parametro_repetido");
        assert_eq!(segments("/v1/schools/norte%20sur/").unwrap(), ["v1", "schools", "norte sur"]);
    }
}
