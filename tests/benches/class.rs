//! A whole graduating class through `certifica serve` over HTTP: 1,000
//! students of one school and cycle imported, then issued end to end
//! (validation, seal, simulated stamp, PDF, storage, credits) in batches of
//! 50 — the API's limit — from two clients at once (the machine's cores).
//!
//! Run (release binaries; the server is the release `certifica`):
//!   cargo build --release --workspace --bins && cargo bench -p certifica-e2e --bench class
//! The split by stage is the server's `Server-Timing`, summed over the batches.
//! `CLASS_SIZE` and `CLIENTS` change the class and the concurrency.

use certifica_e2e::Server;
use serde_json::json;
use std::time::{Duration, Instant};

mod common;

use common::*;

fn main() {
    let size = env_usize("CLASS_SIZE", 1000);
    let clients = env_usize("CLIENTS", 2);
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_demo(data.path());

    let import = class(&server, data.path(), size);

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
