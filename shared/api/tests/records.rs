//! The records routes in-process over the embedded adapters: success,
//! missing permissions, another school, another institution (ids of tenant B
//! under tenant A's token reveal nothing), and malformed input.

mod common;

use certifica_core::identity::{AccessError, Permission};
use common::*;
use http::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn schools_are_only_those_the_caller_may_see() {
    let f = fixture().await;
    let (status, body) =
        get(&f, "/v1/schools", token("uva", &[("norte", Permission::Ver), ("sur", Permission::Editar)])).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = body["schools"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["norte"], "editar without ver does not show a school");
    assert_eq!(body["schools"][0]["institutionType"], "IPES");
    assert_eq!(body["schools"][0]["certificationMode"], "electronic");
    assert_eq!(body["schools"][0]["creditsAvailable"], 5);
    assert_eq!(get(&f, "/v1/schools", Err(AccessError::Unauthenticated)).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn cycles_and_plans_of_a_school() {
    let f = fixture().await;
    let (status, body) = get(&f, "/v1/schools/norte/cycles", token("uva", &all("norte"))).await;
    assert_eq!((status, body["cycles"][0]["id"].as_str()), (StatusCode::OK, Some("2026")));
    let (status, body) = get(&f, "/v1/schools/norte/plans", token("uva", &all("norte"))).await;
    assert_eq!((status, body["plans"][0]["id"].as_str()), (StatusCode::OK, Some("lae")));
    assert_eq!(body["plans"][0]["subjects"], 2);
    // Another school of the same institution, without a grant: not found.
    let (status, body) = get(&f, "/v1/schools/sur/plans", token("uva", &all("norte"))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("escuela_no_encontrada")));
}

#[tokio::test]
async fn the_students_table_filters_and_pages_with_sealed_cursors() {
    let f = fixture().await;
    let uva = || token("uva", &all("norte"));
    let base = "/v1/schools/norte/cycles/2026/students";
    let (status, body) = get(&f, &format!("{base}?group=8B"), uva()).await;
    assert_eq!(status, StatusCode::OK);
    let controls = |b: &Value| {
        b["students"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["matricula"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(controls(&body), ["UVA004", "UVA005", "UVA006"]);
    assert_eq!(body["students"][0]["status"], "por_certificar");
    let (_, body) = get(&f, &format!("{base}?q=JOSE&status=por_certificar"), uva()).await;
    assert_eq!(controls(&body), ["UVA000", "UVA002", "UVA004", "UVA006"]);
    // Pages of 3 follow the cursor to the end.
    let (mut seen, mut uri) = (Vec::new(), format!("{base}?limit=3"));
    loop {
        let (status, body) = get(&f, &uri, uva()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        seen.extend(controls(&body));
        match body["nextCursor"].as_str() {
            Some(c) => uri = format!("{base}?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    // A cursor is bound to its institution and list.
    let (_, first) = get(&f, &format!("{base}?limit=3"), uva()).await;
    let cursor = first["nextCursor"].as_str().unwrap();
    let (status, body) =
        get(&f, &format!("/v1/schools/norte/cycles/2026/students?cursor={cursor}"), token("otra", &all("norte"))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("cursor_invalido")));
    let (status, _) = get(&f, &format!("{base}?cursor=QUFB.AAAA"), uva()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn malformed_list_requests_get_specific_errors() {
    let f = fixture().await;
    let uva = || token("uva", &all("norte"));
    let base = "/v1/schools/norte/cycles/2026/students";
    for (query, code) in [
        ("status=vigente", "estado_invalido"),
        ("issuedFrom=2026-13-01", "fecha_invalida"),
        ("issuedFrom=2026-07-02&issuedTo=2026-07-01", "rango_de_fechas"),
        ("limit=0", "limite_invalido"),
        ("limit=1000", "limite_invalido"),
        ("limit=x", "limite_invalido"),
        ("orden=nombre", "parametro_desconocido"),
        ("plan=a&plan=b", "parametro_repetido"),
    ] {
        let (status, body) = get(&f, &format!("{base}?{query}"), uva()).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{query}: {body}");
    }
    let (status, body) = get(&f, &format!("{base}?plan=ico"), uva()).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("plan_no_encontrado")));
    let (status, body) = get(&f, "/v1/schools/norte/cycles/1999/students", uva()).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("ciclo_no_encontrado")));
    let (status, body) = get(&f, "/v1/escuelas", uva()).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("ruta_desconocida")));
    let (status, _) = call(&f, Method::DELETE, "/v1/schools", None, uva()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn another_institutions_ids_reveal_nothing() {
    let f = fixture().await;
    // "otra" has a school "norte" too: under otra's token, only otra's data.
    let (status, body) = get(&f, "/v1/schools/norte/cycles/2026/students/UVA001", token("otra", &all("norte"))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("alumno_no_encontrado")));
    let (_, body) = get(&f, "/v1/schools/norte/cycles/2026/students", token("otra", &all("norte"))).await;
    assert!(body["students"].as_array().unwrap().iter().all(|s| s["matricula"].as_str().unwrap().starts_with("OTRA")));
    // Writing to uva's student with otra's token changes nothing in uva.
    let edit = json!({"version": 1, "grades": [{"subjectClave": "MAT1", "value": "10", "ciclo": "2025-2"}]});
    let (status, _) = call(
        &f,
        Method::PUT,
        "/v1/schools/norte/cycles/2026/students/UVA001/grades",
        Some(edit),
        token("otra", &all("norte")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, data) = get(&f, "/v1/schools/norte/cycles/2026/students/UVA001", token("uva", &all("norte"))).await;
    assert_eq!(data["gradesEdited"], false);
}

#[tokio::test]
async fn a_students_data_shows_the_academic_summary() {
    let f = fixture().await;
    let (status, body) = get(&f, "/v1/schools/norte/cycles/2026/students/UVA001", token("uva", &all("norte"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Ana Núñez");
    assert_eq!((body["approved"].as_u64(), body["failed"].as_u64()), (Some(1), Some(1)));
    assert_eq!((body["creditsObtained"].as_str(), body["creditsTotal"].as_str()), (Some("8.00"), Some("16.00")));
    assert_eq!(body["average"], "6.50");
    assert_eq!(body["subjects"].as_array().unwrap().len(), 2);
    assert_eq!(body["certificate"], Value::Null);
}

#[tokio::test]
async fn editing_grades_needs_editar_flags_the_student_and_is_audited() {
    let f = fixture().await;
    let uri = "/v1/schools/norte/cycles/2026/students/UVA001/grades";
    let edit = |version: u64| json!({"version": version, "grades": [{"subjectClave": "MAT1", "value": "8", "ciclo": "2025-2"}, {"subjectClave": "FIS1", "value": "9", "ciclo": "2025-2"}]});
    let (status, body) = call(
        &f,
        Method::PUT,
        uri,
        Some(edit(1)),
        token("uva", &[("norte", Permission::Ver), ("norte", Permission::Timbrar)]),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("sin_permiso")));
    let (status, body) = call(&f, Method::PUT, uri, Some(edit(1)), token("uva", &all("norte"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(&f, Method::PUT, uri, Some(edit(1)), token("uva", &all("norte"))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("version_desactualizada")));
    let (_, data) = get(&f, "/v1/schools/norte/cycles/2026/students/UVA001", token("uva", &all("norte"))).await;
    assert_eq!(data["gradesEdited"], true);
    assert_eq!(data["audit"][0]["action"], "grades_edited");
    assert_eq!(data["audit"][0]["detail"], "FIS1: 5.00 → 9.00");
    // Who is the token's subject; its email is what people read.
    assert_eq!((&data["audit"][0]["actor"], &data["audit"][0]["by"]), (&json!("u1"), &json!("clerk@uva.mx")));
    let (_, list) = get(&f, "/v1/schools/norte/cycles/2026/students?q=UVA001", token("uva", &all("norte"))).await;
    assert_eq!(list["students"][0]["gradesEdited"], true);
    // Grades the plan does not allow are refused with every problem named.
    let bad = json!({"version": 2, "grades": [{"subjectClave": "QUI9", "value": "11", "ciclo": ""}]});
    let (status, body) = call(&f, Method::PUT, uri, Some(bad), token("uva", &all("norte"))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("calificaciones_invalidas")));
    assert_eq!(body["problems"].as_array().unwrap().len(), 3, "{body}");
    for (body, code) in [
        (json!({"grades": []}), "json_invalido"),
        (json!({"version": 2, "grades": [], "extra": 1}), "json_invalido"),
        (json!({"version": "dos", "grades": []}), "json_invalido"),
    ] {
        let (status, answer) = call(&f, Method::PUT, uri, Some(body), token("uva", &all("norte"))).await;
        assert_eq!((status, answer["code"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{answer}");
    }
}

#[tokio::test]
async fn bulk_grades_need_two_students_and_answer_per_student() {
    let f = fixture().await;
    let uri = "/v1/schools/norte/cycles/2026/grades/bulk";
    let body = |students: Vec<&str>| json!({"students": students, "grades": [{"subjectClave": "FIS1", "value": "7", "ciclo": "2025-2"}]});
    let (status, answer) = call(&f, Method::POST, uri, Some(body(vec!["UVA001"])), token("uva", &all("norte"))).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("seleccion_insuficiente")));
    let (status, answer) =
        call(&f, Method::POST, uri, Some(body(vec!["UVA001", "UVA002", "NOEXISTE"])), token("uva", &all("norte")))
            .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["applied"], 2);
    let failed: Vec<&Value> = answer["results"].as_array().unwrap().iter().filter(|r| r["ok"] == false).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["matricula"], "NOEXISTE");
    let (_, data) = get(&f, "/v1/schools/norte/cycles/2026/students/UVA002", token("uva", &all("norte"))).await;
    assert_eq!(data["gradesEdited"], true);
    let fis = data["subjects"].as_array().unwrap().iter().find(|s| s["clave"] == "FIS1").unwrap().clone();
    assert_eq!(fis["grade"], "7.00");
    // Sized to finish inside one invocation: 501 students are refused before any write.
    let (_, before) = get(&f, "/v1/schools/norte/cycles/2026/students/UVA001", token("uva", &all("norte"))).await;
    let many: Vec<String> = ["UVA001".to_string()].into_iter().chain((0..500).map(|i| format!("X{i:04}"))).collect();
    let (status, answer) =
        call(&f, Method::POST, uri, Some(body(many.iter().map(String::as_str).collect())), token("uva", &all("norte")))
            .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("seleccion_demasiado_grande")),
        "{answer}"
    );
    let (_, after) = get(&f, "/v1/schools/norte/cycles/2026/students/UVA001", token("uva", &all("norte"))).await;
    assert_eq!(after["version"], before["version"], "unchanged");
}

#[tokio::test]
async fn plans_and_students_are_loaded_with_every_problem_named() {
    let f = fixture().await;
    let t = || token("uva", &all("sur"));
    let mut body = serde_json::to_value(plan("sur", "ico")).unwrap();
    body.as_object_mut().unwrap().remove("id");
    body.as_object_mut().unwrap().remove("schoolId");
    let (status, answer) = call(&f, Method::PUT, "/v1/schools/sur/plans/ico", Some(body.clone()), t()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let mut other = body.clone();
    other["id"] = json!("otro");
    let (status, answer) = call(&f, Method::PUT, "/v1/schools/sur/plans/ico", Some(other), t()).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("identificador_distinto")));
    let mut typo = body.clone();
    typo["lastGrado"] = json!(8);
    let (status, _) = call(&f, Method::PUT, "/v1/schools/sur/plans/ico", Some(typo), t()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Students: a bad matrícula and an unknown plan refuse the whole import.
    let good = serde_json::to_value(student("S100", "Luz", "1A")).unwrap();
    let mut bad = serde_json::to_value(student("S 101", "Sol", "1A")).unwrap();
    bad["planId"] = json!("nada");
    let (status, answer) = call(
        &f,
        Method::POST,
        "/v1/schools/sur/cycles/2027/students/import",
        Some(json!({"students": [good.clone(), bad]})),
        t(),
    )
    .await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("importacion_invalida")));
    assert_eq!(answer["problems"].as_array().unwrap().len(), 2);
    let (_, cycles) = get(&f, "/v1/schools/sur/cycles", t()).await;
    assert_eq!(cycles["cycles"].as_array().unwrap().len(), 1, "nothing written");
    let (status, answer) = call(
        &f,
        Method::POST,
        "/v1/schools/sur/cycles/2027/students/import",
        Some(json!({"cycleName": "2026-2027", "students": [good]})),
        t(),
    )
    .await;
    assert_eq!((status, answer["imported"].as_u64()), (StatusCode::OK, Some(1)));
    let (_, cycles) = get(&f, "/v1/schools/sur/cycles", t()).await;
    assert_eq!(cycles["cycles"][1]["name"], "2026-2027");
    // Loading needs editar.
    let (status, _) =
        call(&f, Method::PUT, "/v1/schools/sur/plans/ico", Some(body), token("uva", &[("sur", Permission::Ver)])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn verification_is_public_and_unknown_folios_say_so() {
    let f = fixture().await;
    let (status, body) =
        get(&f, "/v1/verify/00000000-0000-4000-8000-000000000000", Err(AccessError::Unauthenticated)).await;
    assert_eq!((status, body["verdict"].as_str()), (StatusCode::NOT_FOUND, Some("desconocido")));
    assert_eq!(body["status"], 404, "problem+json: status is the HTTP status");
    let (status, body) = get(&f, "/v1/verify/%3Cscript%3E", Err(AccessError::Unauthenticated)).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("folio_invalido")));
    assert_eq!(body["status"], 400);
}

#[tokio::test]
async fn students_load_from_csv_keeping_their_grades() {
    let f = fixture().await;
    let csv = "matricula,nombre,primerApellido,genero,grado,plan,grupo\nUVA001,Ana María,Núñez,F,8,lae,8C\nUVA100,Nueva,Alumna,F,8,lae,8C\n";
    let send = |body: &'static str| {
        let request = http::Request::builder()
            .method(Method::POST)
            .uri("/v1/schools/norte/cycles/2026/students/import")
            .header("content-type", "text/csv; charset=utf-8")
            .body(bytes::Bytes::from(body))
            .unwrap();
        f.api.handle(request, token("uva", &all("norte")), "req")
    };
    let response = send(csv).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", String::from_utf8_lossy(response.body()));
    let (_, data) = get(&f, "/v1/schools/norte/cycles/2026/students/UVA001", token("uva", &all("norte"))).await;
    assert_eq!((data["name"].as_str(), data["group"].as_str()), (Some("Ana María Núñez"), Some("8C")));
    assert_eq!(data["subjects"][0]["grade"], "8.00", "grades kept from before");
    let response = send("matricula,nombre\nX1,Sin\n").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(problem["code"], "csv_invalido");
}

/// The table's header: how many students are in each state under the same
/// plan, group and search, and the cycle's groups for the group filter.
#[tokio::test]
async fn the_cycle_summary_counts_states_and_lists_groups() {
    let f = fixture().await;
    let (status, body) =
        get(&f, "/v1/schools/norte/cycles/2026/summary", token("uva", &[("norte", Permission::Ver)])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let total = body["total"].as_u64().unwrap();
    assert!(total > 0, "{body}");
    assert_eq!(body["counts"]["porCertificar"].as_u64(), Some(total), "nothing issued yet: {body}");
    assert!(body["groups"].as_array().is_some_and(|g| !g.is_empty()), "{body}");
    let group = body["groups"][0].as_str().unwrap().to_string();
    let (_, page) = get(
        &f,
        &format!("/v1/schools/norte/cycles/2026/students?group={group}&limit=200"),
        token("uva", &all("norte")),
    )
    .await;
    let (_, by_group) =
        get(&f, &format!("/v1/schools/norte/cycles/2026/summary?group={group}"), token("uva", &all("norte"))).await;
    assert_eq!(by_group["total"].as_u64(), Some(page["students"].as_array().unwrap().len() as u64));
    let (status, _) = get(&f, "/v1/schools/norte/cycles/2026/summary", token("uva", &all("sur"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a school the caller may not see is not found");
    let (status, body) =
        get(&f, "/v1/schools/norte/cycles/2026/summary?status=timbrado", token("uva", &all("norte"))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("parametro_desconocido")));
}

#[tokio::test]
async fn answers_are_never_sniffed_and_a_signed_in_callers_are_never_cached() {
    let f = fixture().await;
    let send = |uri: &str, id| {
        let request = http::Request::builder().uri(uri).body(bytes::Bytes::new()).unwrap();
        f.api.handle(request, id, "req-cabeceras")
    };
    for (uri, id) in
        [("/v1/schools", token("uva", &all("norte"))), ("/v1/schools/sur/cycles", token("uva", &all("norte")))]
    {
        let response = send(uri, id).await;
        assert_eq!(response.headers()["cache-control"], "no-store", "{uri} {}", response.status());
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
    let public = send("/v1/verify/no-existe", Err(AccessError::Unauthenticated)).await;
    assert_eq!(public.headers()["x-content-type-options"], "nosniff");
    assert!(public.headers().get("cache-control").is_none(), "the public verification may be cached");
}

#[tokio::test]
async fn identifiers_in_the_path_are_checked_before_any_lookup() {
    let f = fixture().await;
    let long = "c".repeat(41);
    for uri in [
        "/v1/schools/norte/cycles/%20/students".to_string(),
        "/v1/schools/norte/cycles/2026%3Bx/summary".to_string(),
        format!("/v1/schools/norte/cycles/{long}/students"),
        "/v1/schools/nor%C3%B1te/cycles".to_string(),
        "/v1/schools/norte/cycles/2026/students/A%2F1".to_string(),
    ] {
        let (status, body) = get(&f, &uri, token("uva", &all("norte"))).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("identificador_invalido")), "{uri}");
        assert!(body["detail"].as_str().unwrap().len() < 200, "{uri}: {body}");
    }
    let (status, _) = get(&f, "/v1/schools/norte/cycles/2026/students/UVA000", token("uva", &all("norte"))).await;
    assert_eq!(status, StatusCode::OK);
}
