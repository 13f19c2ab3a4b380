//! The OpenAPI document and the implementation agree: every documented
//! operation is routed and answers only with documented statuses (with and
//! without a token), and every route is documented.

mod common;

use certifica_api::{Function, OPENAPI, ROUTES};
use certifica_core::identity::AccessError;
use common::*;
use http::Method;
use serde_json::{Value, json};

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.to_uppercase(), path.clone(), op.clone()));
        }
    }
    out
}

fn concrete(path: &str) -> String {
    path.replace("{school}", "norte")
        .replace("{cycle}", "2026")
        .replace("{plan}", "lae")
        .replace("{student}", "UVA000")
        .replace("{folio}", "00000000-0000-4000-8000-000000000000")
        .replace("{job}", "00000000-0000-4000-8000-000000000001")
}

#[test]
fn every_route_is_documented_and_every_operation_is_a_route() {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: Vec<(String, String)> = operations(&doc).into_iter().map(|(m, p, _)| (m, p)).collect();
    let routes: Vec<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    for r in &routes {
        assert!(documented.contains(r), "{r:?} is not in openapi.json");
    }
    for d in &documented {
        assert!(routes.contains(d), "{d:?} is documented but not in ROUTES");
    }
}

/// Client generators name operations by `operationId`: every operation has
/// one, and no two share it.
#[test]
fn every_operation_has_its_own_operation_id() {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(
            id.chars().all(|c| c.is_ascii_alphanumeric()) && id.starts_with(|c: char| c.is_ascii_lowercase()),
            "{id}"
        );
        assert!(seen.insert(id.to_string()), "{id} is repeated");
    }
}

/// `x-certifica-function` (what the template wires each route to, checked
/// by scripts/check-infra.py) names the function the router gives the route;
/// only the public verification has no security requirement.
#[test]
fn every_operation_names_its_function_and_its_auth() {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    for (method, path, op) in operations(&doc) {
        let function = certifica_api::function_of(&method.parse().unwrap(), &concrete(&path)).unwrap();
        assert_eq!(op["x-certifica-function"], function.name(), "{method} {path}");
        let public = op.get("security") == Some(&json!([]));
        assert_eq!(public, function == certifica_api::Function::Verify, "{method} {path}: security");
    }
}

#[tokio::test]
async fn every_operation_answers_as_documented() {
    let f = fixture().await;
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    for (method, path, op) in operations(&doc) {
        let documented: Vec<u16> = op["responses"].as_object().unwrap().keys().filter_map(|k| k.parse().ok()).collect();
        let public = op["security"] == json!([]);
        let method: Method = method.parse().unwrap();
        let body = op.get("requestBody").map(|_| json!({}));
        // With a token holding every permission: an empty JSON body is a documented 400.
        let (status, answer) =
            call(&f, method.clone(), &concrete(&path), body.clone(), token("uva", &admin("norte"))).await;
        assert_ne!(answer["code"], "ruta_desconocida", "{method} {path}");
        assert!(
            documented.contains(&status.as_u16()),
            "{method} {path} answered {status} ({answer}); documented {documented:?}"
        );
        // Without a token: 401 for every secured operation.
        let (status, _) = call(&f, method.clone(), &concrete(&path), body, Err(AccessError::Unauthenticated)).await;
        if public {
            assert_ne!(status.as_u16(), 401, "{method} {path} is public");
        } else {
            assert_eq!(status.as_u16(), 401, "{method} {path} without a token");
            assert!(documented.contains(&401));
        }
    }
}

/// Each function's build answers its own operations and refuses every other
/// function's as unknown: the route sets compiled into each Lambda binary
/// agree with the router.
#[tokio::test]
async fn each_function_answers_its_own_operations_only() {
    let f = fixture().await;
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    for (method, path, op) in operations(&doc) {
        let method: Method = method.parse().unwrap();
        let own = certifica_api::function_of(&method, &concrete(&path)).unwrap();
        let body = op.get("requestBody").map(|_| json!({}));
        for function in Function::ALL {
            let id = token("uva", &admin("norte"));
            let (status, answer) =
                call_as(&f, Some(function), method.clone(), &concrete(&path), body.clone(), id).await;
            if function == own {
                assert_ne!(answer["code"], "ruta_desconocida", "{method} {path} as {}", function.name());
            } else {
                assert_eq!((status.as_u16(), &answer["code"]), (404, &json!("ruta_desconocida")), "{method} {path}");
            }
        }
    }
}

/// The README's map names, for every documented route, the function that
/// serves it and a handler file that exists: a newcomer's three hops hold.
#[test]
fn the_readme_maps_every_route_to_its_function_and_an_existing_handler() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let rows: Vec<Vec<String>> = readme
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.trim_matches('|').split('|').map(|c| c.trim().trim_matches('`').to_string()).collect())
        .collect();
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    for (method, path, _) in operations(&doc) {
        let route = format!("{method} {path}");
        let row = rows.iter().find(|r| r[0] == route).unwrap_or_else(|| panic!("{route} is not in the README's map"));
        let function = certifica_api::function_of(&method.parse().unwrap(), &concrete(&path)).unwrap();
        assert_eq!(row[1], function.name(), "{route}: function");
        let handler = root.join("shared").join(&row[2]);
        assert!(handler.is_file(), "{route}: {} does not exist", handler.display());
        assert!(row[2].ends_with(&format!("routes/{}.rs", module_of(function))), "{route}: {}", row[2]);
    }
}

/// The routes module named after each function.
fn module_of(function: Function) -> &'static str {
    match function {
        Function::ListCertificates => "list",
        Function::ManageRecords => "manage",
        Function::IssueCertificates => "issue",
        Function::CancelCertificates => "cancel",
        Function::DownloadCertificates => "download",
        Function::EmailCertificates => "email",
        Function::Verify => "verify",
    }
}
