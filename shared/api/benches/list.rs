//! The students table, in process: 5,000 students of one school and cycle
//! (half with a certificate: Sellado, Error), every page of each filter
//! walked through the API (query parsing, the roster over SQLite, sealed
//! cursors, JSON), page latency p50 / p99 per filter. Budget: p99 ≤ 20 ms.
//!
//! Run: cargo bench -p certifica-api --bench list

use bytes::Bytes;
use certifica_core::ports::CertificateStore;
use certifica_core::records::{Actor, Transition};
use common::{STUDENTS, percentile};
use http::Request;
use std::time::{Duration, Instant};

mod common;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let setup = Instant::now();
    let (records, t) = common::seed_school(dir.path()).await;
    let actor = Actor::new("bench", "bench");
    for n in (0..STUDENTS).filter(|n| n.is_multiple_of(2)) {
        let c = common::sealed_certificate(n, chrono::NaiveDate::from_ymd_opt(2026, 6, 1 + (n % 28) as u32).unwrap());
        records.create(&t, &c, &actor).await.unwrap();
        if n.is_multiple_of(10) {
            let failed = Transition::StampFailed { message: "no disponible".into() };
            records.transition(&t, &c.id, 0, failed, &actor).await.unwrap();
        }
    }
    eprintln!("preparación: {STUDENTS} alumnos en {:.1} s", setup.elapsed().as_secs_f64());

    let api = common::api(dir.path(), records);
    let who = common::viewer();

    let filters = [
        ("todos", "status=todos&limit=50"),
        ("por certificar", "status=por_certificar&limit=50"),
        ("sellados", "status=sellado&limit=50"),
        ("con error", "status=error&limit=50"),
        ("grupo 8B", "group=8B&limit=50"),
        ("búsqueda «perez»", "q=perez&limit=50"),
        ("emitidos en junio", "issuedFrom=2026-06-01&issuedTo=2026-06-15&limit=50"),
        ("páginas de 200", "status=todos&limit=200"),
    ];
    println!("tabla de alumnos: {STUDENTS} alumnos, mitad con certificado (en proceso, SQLite, release)");
    let mut worst = Duration::ZERO;
    for (name, query) in filters {
        let mut latencies = Vec::new();
        let mut rows = 0;
        // Three full walks: the first warms the page cache.
        for round in 0..3 {
            let mut cursor: Option<String> = None;
            loop {
                let uri = match &cursor {
                    Some(c) => format!("/v1/schools/norte/cycles/2026/students?{query}&cursor={c}"),
                    None => format!("/v1/schools/norte/cycles/2026/students?{query}"),
                };
                let request = Request::builder().uri(uri).body(Bytes::new()).unwrap();
                let started = Instant::now();
                let response = api.handle(request, Ok(who.clone()), "bench").await;
                let elapsed = started.elapsed();
                assert_eq!(response.status(), 200);
                let page: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
                if round > 0 {
                    latencies.push(elapsed);
                }
                if round == 2 {
                    rows += page["students"].as_array().unwrap().len();
                }
                match page["nextCursor"].as_str() {
                    Some(c) => cursor = Some(c.to_string()),
                    None => break,
                }
            }
        }
        latencies.sort();
        let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
        worst = worst.max(p99);
        println!(
            "  {name:<20} {rows:>5} filas, {:>3} páginas: p50 {:>6.2} ms, p99 {:>6.2} ms",
            latencies.len() / 2,
            p50.as_secs_f64() * 1000.0,
            p99.as_secs_f64() * 1000.0
        );
    }
    println!(
        "  presupuesto p99 ≤ 20 ms: {} (peor p99 {:.2} ms)",
        if worst <= Duration::from_millis(20) { "cumple" } else { "NO cumple" },
        worst.as_secs_f64() * 1000.0
    );
}
