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
    // Declared, not guessed: a body sent as a form or text is not read as JSON.
    let ct = request.headers().get(header::CONTENT_TYPE).map(|ct| ct.to_str().unwrap_or_default().to_ascii_lowercase());
    let media = ct.as_deref().and_then(|ct| ct.split(';').next()).map(str::trim);
    if media != Some("application/json") {
        let got = match &ct {
            Some(ct) => format!("llegó «{}»", excerpt(ct)),
            None => "la solicitud no dice su tipo".to_string(),
        };
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "tipo_de_contenido",
            format!("envíe el cuerpo como JSON con «Content-Type: application/json» ({got})"),
        ));
    }
    if body.is_empty() {
        return Err(Problem::bad_request("cuerpo_vacio", "la solicitud no tiene cuerpo; envíe un documento JSON"));
    }
    serde_json::from_slice(body).map_err(|e| Problem::bad_request("json_invalido", explain(&e)))
}

/// Longest quote of the caller's input in an error (a 10 MB value must not
/// come back whole in a 400).
const MAX_QUOTE: usize = 80;

/// `text`, cut to [`MAX_QUOTE`] characters with "…" when longer.
pub(crate) fn excerpt(text: &str) -> String {
    cut(text, MAX_QUOTE)
}

/// `text`, cut to `max` characters with "…" when longer.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// serde's message, in Spanish, with where it happened; any value it quotes cut short.
pub(crate) fn explain(e: &serde_json::Error) -> String {
    let message = e.to_string();
    // serde appends " at line L column C"; the position is given in Spanish below.
    let message = message.split(" at line").next().unwrap_or(&message);
    let message = &excerpt_quotes(message);
    let field = |prefix: &str| message.strip_prefix(prefix).and_then(|rest| rest.split('`').next()).map(str::to_string);
    let what = if let Some(f) = field("unknown field `") {
        format!("el campo «{f}» no existe")
    } else if let Some(f) = field("missing field `") {
        format!("falta el campo obligatorio «{f}»")
    } else if let Some(rest) = message.strip_prefix("invalid type: ") {
        format!("un valor tiene un tipo incorrecto ({rest})")
    } else if let Some(rest) = message.strip_prefix("invalid value: ") {
        format!("un valor no es válido ({rest})")
    } else if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (value, expected) = rest.split_once("`, expected ").unwrap_or((rest, ""));
        format!("el valor «{value}» no es válido; se espera {expected}")
    } else if e.is_syntax() || e.is_eof() {
        "el cuerpo no es JSON válido".to_string()
    } else {
        format!("el cuerpo no es válido ({message})")
    };
    format!("{what} (línea {}, columna {})", e.line(), e.column())
}

/// serde quotes values as `"…"` or `` `…` ``: each quote cut to an excerpt.
fn excerpt_quotes(message: &str) -> String {
    if message.chars().count() <= 2 * MAX_QUOTE {
        return message.to_string();
    }
    let mut out = String::new();
    let mut rest = message;
    while let Some(start) = rest.find(['"', '`']) {
        let quote = rest.as_bytes()[start] as char;
        out.push_str(&rest[..=start]);
        let inner = &rest[start + 1..];
        let end = inner.find(quote).unwrap_or(inner.len());
        out.push_str(&excerpt(&inner[..end]));
        rest = &inner[end..];
        if let Some(close) = rest.strip_prefix(quote) {
            out.push(quote);
            rest = close;
        }
    }
    out.push_str(rest);
    // A message still too long after its quotes were cut.
    cut(&out, 4 * MAX_QUOTE)
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
    fn a_json_body_must_say_it_is_json() {
        let without = Request::builder().body(Bytes::from(r#"{"students":[]}"#)).unwrap();
        let refused = json_body::<Sample>(&without).unwrap_err();
        assert_eq!((refused.status, refused.code), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "tipo_de_contenido"));
        let form = Request::builder()
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Bytes::from(r#"{"students":[]}"#))
            .unwrap();
        assert_eq!(json_body::<Sample>(&form).unwrap_err().status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let lookalike = Request::builder()
            .header("content-type", "application/jsonp")
            .body(Bytes::from(r#"{"students":[]}"#))
            .unwrap();
        assert_eq!(json_body::<Sample>(&lookalike).unwrap_err().status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let with_charset = Request::builder()
            .header("content-type", "application/json; charset=utf-8")
            .body(Bytes::from(r#"{"students":[]}"#))
            .unwrap();
        assert!(json_body::<Sample>(&with_charset).is_ok());
    }

    #[test]
    fn an_error_quotes_only_an_excerpt_of_a_huge_value() {
        // As big a value as a body may carry.
        let huge = "x".repeat(MAX_BODY_BYTES - 100);
        let refused = json_body::<Sample>(&post(&format!(r#"{{"students":"{huge}"}}"#))).unwrap_err();
        assert_eq!(refused.code, "json_invalido");
        assert!(refused.detail.len() < 1_000, "{} bytes", refused.detail.len());
        assert!(
            refused.detail.starts_with("un valor tiene un tipo incorrecto") && refused.detail.contains("xxx…"),
            "{}",
            refused.detail
        );
        let field = json_body::<Sample>(&post(&format!(r#"{{"{huge}":1}}"#))).unwrap_err();
        assert!(field.detail.len() < 1_000 && field.detail.starts_with("el campo «xxx"), "{}", &field.detail[..100]);
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
