//! Shared by the class benches: calls to `certifica serve`, the class of
//! `size` students (valid CURPs, every subject graded) and its credits.
#![allow(dead_code)]

use certifica_e2e::{Server, request};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

pub const NORTE: &str = "/v1/schools/norte/cycles/2026";
pub const BATCH: usize = 50;

pub fn call(server: &Server, method: &str, path: &str, body: Option<Value>) -> Value {
    call_timed(server, method, path, body).0
}

/// The answer and its `Server-Timing` stages (name, milliseconds).
pub fn call_timed(server: &Server, method: &str, path: &str, body: Option<Value>) -> (Value, Vec<(String, f64)>) {
    let auth = format!("Bearer {}", server.token);
    let reply = request(method, &format!("{}{path}", server.base), &[("Authorization", &auth)], body.as_ref());
    assert_eq!(reply.status, 200, "{method} {path}: {}", String::from_utf8_lossy(&reply.body));
    let stages = reply
        .header("server-timing")
        .unwrap_or_default()
        .split(", ")
        .filter_map(|s| s.split_once(";dur="))
        .filter_map(|(name, ms)| Some((name.to_string(), ms.parse().ok()?)))
        .collect();
    (reply.json(), stages)
}

/// A valid CURP for student `n` (check digit computed as RENAPO does).
pub fn curp(n: usize) -> String {
    let first17 = format!("BEXA{:02}{:02}{:02}MDFNXN0", 90 + n % 10, 1 + n % 12, 1 + n % 28);
    let alphabet: Vec<char> = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ".chars().collect();
    let total: usize =
        first17.chars().enumerate().map(|(i, c)| alphabet.iter().position(|a| *a == c).unwrap() * (18 - i)).sum();
    format!("{first17}{}", (10 - total % 10) % 10)
}

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Buys credits for `size` students (as an operator, `certifica provision`)
/// and imports them (`G00000`…) through the API; the import's time.
pub fn class(server: &Server, data: &Path, size: usize) -> Duration {
    // Enough credits: a purchase provisioned as an operator would.
    let file = data.join("compra.json");
    std::fs::write(
        &file,
        json!({
            "institution": {"id": "uva", "mecId": "090456", "name": "Universidad del Valle de Anáhuac", "kind": "IPES", "mode": "electronic"},
            "creditPurchase": {"reference": "BENCH", "amount": size + 100},
        })
        .to_string(),
    )
    .unwrap();
    let out = std::process::Command::new(certifica_e2e::certifica_binary())
        .args(["provision", "--file"])
        .arg(&file)
        .arg("--data")
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The class: every subject of the plan graded.
    let plans = call(server, "GET", "/v1/schools/norte/plans", None);
    let plan = &plans["plans"][0];
    // The plan's subjects, as "Ver datos" lists them for a demo student of it.
    let sample = call(server, "GET", &format!("{NORTE}/students/A20000"), None);
    let grades: Vec<Value> = sample["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, s)| json!({"subjectClave": s["clave"], "value": format!("{}", 7 + i % 4), "ciclo": format!("20{}-{}", 22 + i / 8, 1 + i % 2)}))
        .collect();
    let students: Vec<Value> = (0..size)
        .map(|n| {
            json!({
                "controlNumber": format!("G{n:05}"), "curp": curp(n), "nombre": "Estudiante", "primerApellido": "De Prueba",
                "segundoApellido": format!("Número {n}"), "genero": if n.is_multiple_of(2) { "Mujer" } else { "Hombre" },
                "fechaNacimiento": format!("{}-{:02}-{:02}", 1990 + n % 10, 1 + n % 12, 1 + n % 28),
                "group": "8Z", "gradeLevel": plan["lastGrade"], "active": true, "planId": plan["id"], "grades": grades,
            })
        })
        .collect();
    let started = Instant::now();
    for chunk in students.chunks(500) {
        call(
            server,
            "POST",
            &format!("{NORTE}/students/import"),
            Some(json!({"cycleName": "2025-2026", "students": chunk})),
        );
    }
    started.elapsed()
}
