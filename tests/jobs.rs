//! Jobs through `certifica serve`: a whole table queued with `all`, worked
//! by the server's own worker, progress read back over HTTP — and a
//! server stopped in the middle of a job finishes it when it starts again,
//! each student stamped once and charged once.

use certifica_e2e::{Reply, Server, request};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const NORTE: &str = "/v1/schools/norte/cycles/2026";

fn call(server: &Server, method: &str, path: &str, body: Option<Value>) -> Reply {
    let auth = format!("Bearer {}", server.token);
    request(method, &format!("{}{path}", server.base), &[("Authorization", &auth)], body.as_ref())
}

fn ok(server: &Server, path: &str) -> Value {
    let reply = call(server, "GET", path, None);
    assert_eq!(reply.status, 200, "{path}: {}", String::from_utf8_lossy(&reply.body));
    reply.json()
}

/// Reads the job until `done` says so, for at most a minute.
fn until(server: &Server, url: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let job = ok(server, url);
        if done(&job["job"]) {
            return job;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the job did not get there: {job}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn credits(server: &Server) -> u64 {
    ok(server, "/v1/schools")["schools"][0]["creditsAvailable"].as_u64().unwrap()
}

#[test]
fn a_job_interrupted_by_a_stop_continues_when_the_server_starts_again() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_demo(data.path());
    let before = credits(&server);
    let pending = ok(&server, &format!("{NORTE}/summary"));
    let reply = call(
        &server,
        "POST",
        &format!("{NORTE}/certificates/issue"),
        Some(json!({"all": true, "status": "por_certificar"})),
    );
    assert_eq!(reply.status, 202, "{}", String::from_utf8_lossy(&reply.body));
    let url = reply.header("location").expect("Location").to_string();
    let total = reply.json()["job"]["total"].as_u64().unwrap();
    assert!(total >= 15, "{total}: {pending}");

    // Stopped (killed) while its worker is in the middle of it.
    let midway = until(&server, &url, |j| j["status"] == "en_proceso");
    assert!(midway["job"]["done"].as_u64().unwrap() < total, "{midway}");
    drop(server);

    let server = Server::start_demo(data.path());
    let done = until(&server, &url, |j| j["status"] == "terminado");
    let counts = &done["job"]["counts"];
    assert_eq!(done["job"]["done"].as_u64(), Some(total), "{done}");
    let stamped = counts["timbrado"].as_u64().unwrap_or(0);
    assert!(stamped > 0, "{done}");
    assert_eq!(counts.as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum::<u64>(), total, "{counts}");
    assert!(counts.get("fallido").is_none(), "{counts}");
    // A student stamped just before the stop, whose result was not yet
    // recorded, is the job's stamp, not stamped again.
    assert_eq!(credits(&server), before - stamped, "one credit per certificate, whatever was interrupted");
    // Each result once, and each stamped student with one certificate.
    let results = ok(&server, &format!("{url}?limit=500"))["results"].as_array().unwrap().clone();
    assert_eq!(results.len() as u64, total);
    let table = ok(&server, &format!("{NORTE}/students?status=timbrado&limit=200"));
    assert_eq!(table["students"].as_array().unwrap().len() as u64, stamped);
    for r in results.iter().filter(|r| r["status"] == "timbrado") {
        let student = ok(&server, &format!("{NORTE}/students/{}", r["matricula"].as_str().unwrap()));
        assert_eq!(student["certificate"]["folioDigital"], r["folioDigital"], "{r}");
    }
    // The cycle's jobs list it.
    let jobs = ok(&server, &format!("{NORTE}/jobs"));
    assert_eq!(jobs["jobs"][0]["url"], url.as_str());
}
