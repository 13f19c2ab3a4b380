//! A whole graduating class through `certifica serve` over HTTP: 1,000
//! students of one school and cycle imported, then issued end to end
//! (validation, seal, simulated stamp, PDF, storage, credits) in batches of
//! 50 — the API's limit — from two clients at once (the machine's cores).
//!
//! Run (release binaries; the server is the release `certifica`):
//!   cargo build --release --workspace --bins && cargo bench -p certifica-e2e --bench class
//! The split by stage is the server's `Server-Timing`, summed over the batches.
//! `CLASS_SIZE` and `CLIENTS` change the class and the concurrency.

use certifica_e2e::{Server, request};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const NORTE: &str = "/v1/schools/norte/cycles/2026";
const BATCH: usize = 50;

fn call(server: &Server, method: &str, path: &str, body: Option<Value>) -> Value {
    call_timed(server, method, path, body).0
}

/// The answer and its `Server-Timing` stages (name, milliseconds).
fn call_timed(server: &Server, method: &str, path: &str, body: Option<Value>) -> (Value, Vec<(String, f64)>) {
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
fn curp(n: usize) -> String {
    let first17 = format!("BEXA{:02}{:02}{:02}MDFNXN0", 90 + n % 10, 1 + n % 12, 1 + n % 28);
    let alphabet: Vec<char> = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ".chars().collect();
    let total: usize =
        first17.chars().enumerate().map(|(i, c)| alphabet.iter().position(|a| *a == c).unwrap() * (18 - i)).sum();
    format!("{first17}{}", (10 - total % 10) % 10)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let size = env_usize("CLASS_SIZE", 1000);
    let clients = env_usize("CLIENTS", 2);
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_demo(data.path());

    // Enough credits: a purchase provisioned as an operator would.
    let file = data.path().join("compra.json");
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
        .arg(data.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The class: every subject of the plan graded.
    let plans = call(&server, "GET", "/v1/schools/norte/plans", None);
    let plan = &plans["plans"][0];
    // The plan's subjects, as "Ver datos" lists them for a demo student of it.
    let sample = call(&server, "GET", &format!("{NORTE}/students/A20000"), None);
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
            &server,
            "POST",
            &format!("{NORTE}/students/import"),
            Some(json!({"cycleName": "2025-2026", "students": chunk})),
        );
    }
    let import = started.elapsed();

    // Issue: batches of 50, `clients` at a time.
    let ids: Vec<String> = (0..size).map(|n| format!("G{n:05}")).collect();
    let batches: Vec<Vec<String>> = ids.chunks(BATCH).map(<[String]>::to_vec).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    let stages = std::sync::Mutex::new(Vec::<(String, f64)>::new());
    let (issued, mut latencies) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                scope.spawn(|| {
                    let (mut issued, mut latencies) = (0u64, Vec::new());
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(batch) = batches.get(i) else { break };
                        let t = Instant::now();
                        let (answer, split) = call_timed(
                            &server,
                            "POST",
                            &format!("{NORTE}/certificates/issue"),
                            Some(json!({"students": batch})),
                        );
                        latencies.push(t.elapsed());
                        issued += answer["issued"].as_u64().unwrap();
                        let mut stages = stages.lock().unwrap();
                        for (name, ms) in split {
                            match stages.iter_mut().find(|(n, _)| *n == name) {
                                Some((_, total)) => *total += ms,
                                None => stages.push((name, ms)),
                            }
                        }
                    }
                    (issued, latencies)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).fold((0, Vec::new()), |(n, mut all), (k, l)| {
            all.extend(l);
            (n + k, all)
        })
    });
    let wall = started.elapsed();
    assert_eq!(issued as usize, size, "every student issued (Timbrado)");
    latencies.sort();
    println!("clase de {size} alumnos, {clients} clientes, lotes de {BATCH} (certifica serve, release)");
    println!("  importación: {:.2} s", import.as_secs_f64());
    println!(
        "  emisión: {:.2} s de reloj, {:.0} certificados/s; por lote p50 {:.0} ms, p99 {:.0} ms",
        wall.as_secs_f64(),
        size as f64 / wall.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0
    );
    // The server's own account (Server-Timing), summed over every batch.
    let stages = stages.into_inner().unwrap();
    let total: f64 = stages.iter().map(|(_, ms)| ms).sum();
    println!("  tiempo por etapa (suma en el servidor; el almacenamiento se solapa entre certificados):");
    for (name, ms) in &stages {
        println!(
            "    {name:<11} {:>8.0} ms  {:>5.1} %  {:>6.2} ms/certificado",
            ms,
            100.0 * ms / total,
            ms / size as f64
        );
    }
    println!("  presupuesto ≤ 5 s: {}", if wall <= Duration::from_secs(5) { "cumple" } else { "NO cumple" });
}
