//! A whole graduating class issued as one job through `certifica serve`:
//! 1,000 students imported over HTTP, then `POST …/certificates/issue`
//! with `{"all": true}` (202 and the job's address) and the job read until
//! it is `terminado` — the server's in-process workers (three per core)
//! work its chunks of 25 from the queue table, end to end (validation, seal,
//! simulated stamp, PDF, documents, records, credits).
//!
//! The CPU floor is the run's own: the worker logs each chunk's stage
//! times (sello, timbre, pdf: CPU; documentos, registros: awaited) and the
//! CPU time its threads spent in those three (`cpu`), and the floor is that
//! CPU time summed over the job, divided by the cores. (The three stages'
//! clock time, the floor of earlier figures, also counts the time another
//! thread had the core meanwhile, so it grows with the threads around the
//! stages — docs/performance.md §2b; it is printed beside it.) The budget
//! is wall ≤ 1.2 × the floor: storage hidden behind the CPU.
//!
//! Run (release binaries; the server is the release `certifica`):
//!   cargo build --release --workspace --bins && cargo bench -p certifica-e2e --bench class_job
//! `CLASS_SIZE` changes the class; `CORES` the cores the floor divides by
//! (default: those the machine has). `CLASS_KEEP_DATA=1` leaves the data
//! folder behind: on ext4 without a journal, deleting a run's files makes
//! the next few minutes' file creations skip over the freed inodes, so the
//! next run pays for this one's cleanup (docs/performance.md §2b).

use certifica_e2e::{Server, request};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

mod common;

use common::*;

/// The stage times of the worker's log lines of `job` (`trabajo {job}
/// bloque {n}: 25 alumnos (sello;dur=…, …)`), summed, and the students.
fn stages_of(log: &str, job: &str) -> (Vec<(String, f64)>, usize) {
    let mut stages: Vec<(String, f64)> = Vec::new();
    let mut students = 0;
    let prefix = format!("trabajo {job} bloque ");
    for line in log.lines().filter(|l| l.starts_with(&prefix)) {
        let Some((_, report)) = line.split_once(": ") else { continue };
        students += report.split(' ').next().and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
        let Some(timing) = report.split_once(" (").map(|(_, t)| t.trim_end_matches(')')) else { continue };
        for (name, ms) in timing.split(", ").filter_map(|s| s.split_once(";dur=")) {
            let Ok(ms) = ms.parse::<f64>() else { continue };
            match stages.iter_mut().find(|(n, _)| n == name) {
                Some((_, total)) => *total += ms,
                None => stages.push((name.to_string(), ms)),
            }
        }
    }
    (stages, students)
}

/// The server's CPU time so far, user and system, in seconds (Linux's
/// `/proc`; `None` elsewhere).
fn cpu_of(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command's name (which may hold spaces), utime and stime are
    // the 12th and 13th fields, in USER_HZ ticks (100 a second on Linux).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).map(|t| t / 100.0);
    Some((ticks(11)?, ticks(12)?))
}

fn main() {
    let size = env_usize("CLASS_SIZE", 1000);
    let cores = env_usize("CORES", std::thread::available_parallelism().map_or(2, usize::from));
    let data = tempfile::tempdir().unwrap();
    let log = data.path().join("servidor.log");
    let server = Server::start_demo_logging(data.path(), &log);
    let import = class(&server, data.path(), size);

    let auth = format!("Bearer {}", server.token);
    let cpu_before = cpu_of(server.pid());
    let started = Instant::now();
    let reply = request(
        "POST",
        &format!("{}{NORTE}/certificates/issue", server.base),
        &[("Authorization", &auth)],
        Some(&json!({"all": true, "group": "8Z"})),
    );
    assert_eq!(reply.status, 202, "{}", String::from_utf8_lossy(&reply.body));
    let accepted = reply.json();
    let url = reply.header("location").expect("the job's address").to_string();
    let id = accepted["job"]["id"].as_str().unwrap().to_string();
    assert_eq!(accepted["job"]["total"].as_u64(), Some(size as u64));
    let job: Value = loop {
        let job = call(&server, "GET", &format!("{url}?limit=1"), None);
        if job["job"]["status"] != "en_cola" && job["job"]["status"] != "en_proceso" {
            break job;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = started.elapsed();
    let cpu_after = cpu_of(server.pid());
    assert_eq!(job["job"]["status"], "terminado", "{job}");
    assert_eq!(job["job"]["counts"], json!({"timbrado": size}), "every student Timbrado: {}", job["job"]);
    // The last chunk's line is written just after it is counted.
    std::thread::sleep(Duration::from_millis(200));
    let (stages, worked) = stages_of(&std::fs::read_to_string(&log).unwrap(), &id);
    assert_eq!(worked, size, "one logged chunk per chunk of the job");

    let ms = |name: &str| stages.iter().find(|(n, _)| n == name).map_or(0.0, |(_, ms)| *ms);
    let clock = ms("sello") + ms("timbre") + ms("pdf");
    let clock_floor = clock / 1000.0 / cores as f64;
    // A server without a thread CPU clock logs no `cpu`: the clock time stands in.
    let cpu = if stages.iter().any(|(n, _)| n == "cpu") { ms("cpu") } else { clock };
    let floor = cpu / 1000.0 / cores as f64;
    let ratio = wall.as_secs_f64() / floor;
    println!("clase de {size} alumnos como un trabajo (certifica serve, release; {cores} núcleos)");
    println!("  importación: {:.2} s", import.as_secs_f64());
    println!(
        "  trabajo: {:.2} s de reloj (de la solicitud a «terminado»), {:.0} certificados/s",
        wall.as_secs_f64(),
        size as f64 / wall.as_secs_f64()
    );
    println!("  tiempo por etapa (suma en el trabajador; el almacenamiento es tiempo esperado y se solapa):");
    for (name, total) in &stages {
        println!("    {name:<11} {total:>8.0} ms  {:>6.2} ms/certificado", total / size as f64);
    }
    // How busy the cores were: what the floor leaves is either idle or CPU beside the floor.
    if let (Some((u0, s0)), Some((u1, s1))) = (cpu_before, cpu_after) {
        let (user, system) = (u1 - u0, s1 - s0);
        println!(
            "  CPU del servidor en el trabajo: usuario {user:.2} s + sistema {system:.2} s = {:.0} % de {cores} núcleos × reloj",
            100.0 * (user + system) / (cores as f64 * wall.as_secs_f64())
        );
    }
    println!(
        "  con el tiempo de reloj de esas etapas: {clock_floor:.2} s; reloj / piso = {:.2}×",
        wall.as_secs_f64() / clock_floor
    );
    println!(
        "  piso de CPU: CPU de (sello + timbre + pdf) / {cores} = {floor:.2} s; reloj / piso = {ratio:.2}× — presupuesto ≤ 1.2×: {}",
        if ratio <= 1.2 { "cumple" } else { "NO cumple" }
    );
    if std::env::var_os("CLASS_KEEP_DATA").is_some() {
        println!("  datos: {}", data.keep().display());
    }
}
