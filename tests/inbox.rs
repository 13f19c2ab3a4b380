//! The semi-electronic round trip on a laptop, exactly as the README tells
//! it, against `certifica serve --demo` and its inbox folder:
//! - an offline signer: register the certificate only → export the data to
//!   seal → `certifica sign` the zip → drop it in `DATA/inbox/…` → Timbrado;
//! - an institution that submits through the authority's portal: issue
//!   (Sellado) → export-sealed → `certifica autoridad-simulada` (one refused)
//!   → drop the returned zip in the inbox → Timbrado and Error.

use base64::Engine;
use certifica_e2e::{Reply, Server, certifica_binary, request};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/demo-efirma")
}

fn call(server: &Server, token: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
    let auth = format!("Bearer {token}");
    request(method, &format!("{}{path}", server.base), &[("Authorization", &auth)], body.as_ref())
}

fn ok(server: &Server, token: &str, method: &str, path: &str, body: Value) -> Value {
    let reply = call(server, token, method, path, Some(body));
    assert_eq!(reply.status, 200, "{method} {path}: {}", String::from_utf8_lossy(&reply.body));
    reply.json()
}

/// The zip an export answer links to.
fn fetch(answer: &Value) -> Vec<u8> {
    let reply = request("GET", answer["url"].as_str().unwrap(), &[], None);
    assert_eq!(reply.status, 200);
    reply.body
}

fn certifica(args: &[&std::ffi::OsStr]) {
    let out = Command::new(certifica_binary()).args(args).output().unwrap();
    assert!(out.status.success(), "certifica {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Copies `file` into the inbox folder as a signer would (whole, then visible).
fn drop_in(data: &Path, folder: &str, file: &Path) {
    let dir = data.join("inbox").join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    let name = file.file_name().unwrap();
    let part = dir.join(format!("{}.part", name.to_string_lossy()));
    std::fs::copy(file, &part).unwrap();
    std::fs::rename(&part, dir.join(name)).unwrap();
}

/// Waits (up to 30 s) until the student's latest certificate has `status`.
fn wait_for(server: &Server, token: &str, path: &str, status: &str) -> Value {
    let start = Instant::now();
    loop {
        let student = call(server, token, "GET", path, None).json();
        if student["certificate"]["status"] == status {
            return student;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{path} never became {status}: {student}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_semi_electronic_round_trip_through_the_inbox_folder() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let server = Server::start_demo(data.path());
    let token = server.token.clone();
    let sur = "/v1/schools/sur/cycles/2026";

    // 1. The signer of Campus Sur keeps the e.firma offline: only the certificate is registered.
    let cer = std::fs::read(assets().join("responsable.cer")).unwrap();
    let signer = json!({
        "responsable": {"curp": "GOMC850412MDFRRR03", "nombre": "María Cristina", "primerApellido": "Gómez",
                        "segundoApellido": "Ruiz", "cargo": "ResponsableExpedicion"},
        "cer": base64::engine::general_purpose::STANDARD.encode(cer),
    });
    assert_eq!(ok(&server, &token, "PUT", "/v1/schools/sur/signer", signer)["sealsOffline"], true);
    let refused =
        call(&server, &token, "POST", &format!("{sur}/certificates/issue"), Some(json!({"students": ["B20040"]})));
    assert_eq!(refused.json()["results"][0]["problems"][0]["code"], "firmante_sin_conexion", "{:?}", refused.json());

    // 2. Export the data to seal, seal it offline, drop it in the inbox.
    let export = ok(
        &server,
        &token,
        "POST",
        &format!("{sur}/certificates/export-unsealed"),
        json!({"students": ["B20040", "B20041"]}),
    );
    assert_eq!(export["certificates"], 2, "{export}");
    let unsealed = work.path().join("datos-para-sellar.zip");
    std::fs::write(&unsealed, fetch(&export)).unwrap();
    let sealed = work.path().join("sellados.zip");
    let (key, password) = (assets().join("responsable.key"), assets().join("responsable.password"));
    certifica(&[
        "sign".as_ref(),
        "--cer".as_ref(),
        assets().join("responsable.cer").as_os_str(),
        "--key".as_ref(),
        key.as_os_str(),
        "--password-file".as_ref(),
        password.as_os_str(),
        "--out".as_ref(),
        sealed.as_os_str(),
        unsealed.as_os_str(),
    ]);
    drop_in(data.path(), "uva/sur/2026", &sealed);
    for student in ["B20040", "B20041"] {
        let record = wait_for(&server, &token, &format!("{sur}/students/{student}"), "timbrado");
        assert!(record["certificate"]["folioDigital"].is_string(), "{record}");
    }
    let report = data.path().join("processed/uva/sur/2026/sellados.zip.json");
    let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(report["outcome"], "procesado", "{report}");
    assert!(!data.path().join("inbox/uva/sur/2026/sellados.zip").exists());

    // 3. A semi-electronic institution: issue seals and stops; export for the authority's portal.
    let out = Command::new(certifica_binary())
        .args(["token", "--institution", "itp", "--school", "centro", "--perms", "ver,timbrar", "--data"])
        .arg(data.path())
        .output()
        .unwrap();
    let itp = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let centro = "/v1/schools/centro/cycles/2026";
    let issued =
        ok(&server, &itp, "POST", &format!("{centro}/certificates/issue"), json!({"students": ["A20160", "A20161"]}));
    assert!(issued["results"].as_array().unwrap().iter().all(|r| r["status"] == "sellado"), "{issued}");
    let exported = ok(&server, &itp, "POST", &format!("{centro}/certificates/export-sealed"), json!({}));
    let for_portal = work.path().join("para-la-autoridad.zip");
    std::fs::write(&for_portal, fetch(&exported)).unwrap();
    let returned = work.path().join("devuelto por la autoridad.zip");
    certifica(&[
        "autoridad-simulada".as_ref(),
        for_portal.as_os_str(),
        "--out".as_ref(),
        returned.as_os_str(),
        "--rechazar".as_ref(),
        "centro-2026-A20161-1".as_ref(),
    ]);
    drop_in(data.path(), "itp/centro/2026", &returned);
    let stamped = wait_for(&server, &itp, &format!("{centro}/students/A20160"), "timbrado");
    assert!(stamped["certificate"]["folioDigital"].is_string());
    let failed = wait_for(&server, &itp, &format!("{centro}/students/A20161"), "error");
    assert!(failed["certificate"]["lastError"].as_str().unwrap_or_default().contains("rechazado"), "{failed}");

    // 4. Anything else lands in rejected/ with its reason.
    let junk = work.path().join("foto.png");
    std::fs::write(&junk, b"\x89PNG\r\n\x1a\n").unwrap();
    drop_in(data.path(), "itp/centro/2026", &junk);
    let reason = data.path().join("rejected/itp/centro/2026/foto.png.json");
    let start = Instant::now();
    while !reason.exists() {
        assert!(start.elapsed() < Duration::from_secs(30), "no reason written");
        std::thread::sleep(Duration::from_millis(200));
    }
    let reason: Value = serde_json::from_slice(&std::fs::read(&reason).unwrap()).unwrap();
    assert_eq!(reason["code"], "tipo_de_archivo", "{reason}");
}
