//! The whole certification flow over HTTP against `certifica serve --demo`:
//! list with filters → data → edit grades → bulk grades → preview → issue
//! (one student refused by the rules, one authority failure ending in
//! Error, then a retry) → download XML and PDF (the XML passes `certifica
//! verify`) → zip → email (the outbox has the attachment) → cancel → verify
//! says cancelled → reissue → credits and ledger add up.

use certifica_core::ports::CreditStore;
use certifica_core::records::{LedgerKind, Tenant};
use certifica_e2e::{Reply, Server, certifica_binary, request};
use serde_json::{Value, json};
use std::io::Read;

const NORTE: &str = "/v1/schools/norte/cycles/2026";

struct Client {
    server: Server,
}

impl Client {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let auth = format!("Bearer {}", self.server.token);
        request(method, &format!("{}{path}", self.server.base), &[("Authorization", &auth)], body.as_ref())
    }

    fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let reply = self.call(method, path, body);
        assert_eq!(reply.status, 200, "{method} {path}: {}", String::from_utf8_lossy(&reply.body));
        reply.json()
    }

    /// Follows a download answer (a redirect or a JSON with `url`) to the document.
    fn fetch(&self, answer: &Reply) -> Vec<u8> {
        let url = answer
            .header("location")
            .map(str::to_string)
            .unwrap_or_else(|| answer.json()["url"].as_str().unwrap().to_string());
        let reply = request("GET", &url, &[], None);
        assert_eq!(reply.status, 200, "{url}");
        reply.body
    }
}

fn outcome<'a>(body: &'a Value, matricula: &str) -> &'a Value {
    body["results"].as_array().unwrap().iter().find(|r| r["matricula"] == matricula).unwrap()
}

#[test]
fn the_whole_flow_over_http() {
    let data = tempfile::tempdir().unwrap();
    let client = Client { server: Server::start_demo(data.path()) };

    // Schools, then the table filtered.
    let schools = client.ok("GET", "/v1/schools", None);
    assert_eq!(schools["schools"].as_array().unwrap().len(), 2);
    assert_eq!(schools["schools"][0]["creditsAvailable"], 100);
    let pending = client.ok("GET", &format!("{NORTE}/students?status=por_certificar&plan=lae-2020&limit=10"), None);
    assert_eq!(pending["students"].as_array().unwrap().len(), 10);
    assert!(pending["nextCursor"].is_string());
    let searched = client.ok("GET", &format!("{NORTE}/students?q=A20011"), None);
    assert_eq!(searched["students"].as_array().unwrap().len(), 1);
    assert_eq!(client.call("GET", &format!("{NORTE}/students?status=vigente"), None).status, 400);

    // "Ver datos", then edit grades for one student and bulk for two.
    let data_a5 = client.ok("GET", &format!("{NORTE}/students/A20005"), None);
    let subjects = data_a5["subjects"].as_array().unwrap();
    let grades: Vec<Value> = subjects
        .iter()
        .filter(|s| s["grade"].is_string())
        .map(|s| json!({"subjectClave": s["clave"], "value": if s["clave"] == subjects[0]["clave"] { json!("9.5") } else { s["grade"].clone() }, "ciclo": s["ciclo"]}))
        .collect();
    let edited = client.ok(
        "PUT",
        &format!("{NORTE}/students/A20005/grades"),
        Some(json!({"version": data_a5["version"], "grades": grades})),
    );
    assert_eq!(edited["gradesEdited"], true);
    let first = subjects[0].clone();
    let bulk = client.ok(
        "POST",
        &format!("{NORTE}/grades/bulk"),
        Some(json!({"students": ["A20006", "A20008"], "grades": [{"subjectClave": first["clave"], "value": "8", "ciclo": first["ciclo"]}]})),
    );
    assert_eq!(bulk["applied"], 2);
    assert_eq!(
        client
            .call("POST", &format!("{NORTE}/grades/bulk"), Some(json!({"students": ["A20006"], "grades": []})))
            .status,
        422
    );

    // Preview: only the independent plan (campus sur).
    assert_eq!(
        client.call("POST", &format!("{NORTE}/certificates/preview"), Some(json!({"student": "A20000"}))).status,
        422
    );
    let preview =
        client.call("POST", "/v1/schools/sur/cycles/2026/certificates/preview", Some(json!({"student": "B20040"})));
    assert_eq!(preview.status, 200, "{}", String::from_utf8_lossy(&preview.body));
    assert!(preview.body.starts_with(b"%PDF"));

    // The simulated-failure header counts only for a signed-in caller, and
    // only for its own institution's documents: neither of these arms it for uva.
    let base = &client.server.base;
    let anonymous = request("GET", &format!("{base}/v1/verify/x"), &[("X-Simular-Autoridad", "rechazo")], None);
    assert_eq!(anonymous.status, 404);
    let itp = std::process::Command::new(certifica_binary())
        .args(["token", "--institution", "itp", "--school", "centro", "--data"])
        .arg(data.path())
        .output()
        .unwrap();
    let itp = format!("Bearer {}", String::from_utf8(itp.stdout).unwrap().trim());
    let other = request(
        "GET",
        &format!("{base}/v1/schools"),
        &[("Authorization", &itp), ("X-Simular-Autoridad", "rechazo")],
        None,
    );
    assert_eq!(other.status, 200);

    // Issue: A20004 lacks data; A20001 meets an unavailable authority.
    let issued = client.ok(
        "POST",
        &format!("{NORTE}/certificates/issue"),
        Some(json!({"students": ["A20000", "A20004", "A20005"]})),
    );
    assert_eq!(outcome(&issued, "A20000")["status"], "timbrado");
    assert_eq!(outcome(&issued, "A20005")["status"], "timbrado");
    assert_eq!(outcome(&issued, "A20004")["status"], "rechazado");
    assert_eq!(outcome(&issued, "A20004")["problems"][0]["code"], "dato_faltante");
    let auth = format!("Bearer {}", client.server.token);
    let failed = request(
        "POST",
        &format!("{}{NORTE}/certificates/issue", client.server.base),
        &[("Authorization", &auth), ("X-Simular-Autoridad", "no-disponible")],
        Some(&json!({"students": ["A20001"]})),
    )
    .json();
    assert_eq!(outcome(&failed, "A20001")["status"], "error", "{failed}");
    let errors = client.ok("GET", &format!("{NORTE}/students?status=error"), None);
    assert_eq!(errors["students"][0]["matricula"], "A20001");
    let retried = client.ok("POST", &format!("{NORTE}/certificates/issue"), Some(json!({"students": ["A20001"]})));
    assert_eq!(outcome(&retried, "A20001")["status"], "timbrado");
    let folio = outcome(&issued, "A20000")["folioDigital"].as_str().unwrap().to_string();

    // Downloads: the XML verifies with `certifica verify`; the PDF is a PDF; the zip has everything.
    let xml = client.fetch(&client.call("GET", &format!("{NORTE}/students/A20000/certificate.xml"), None));
    let file = data.path().join("descargado.xml");
    std::fs::write(&file, &xml).unwrap();
    let verified = std::process::Command::new(certifica_binary()).arg("verify").arg(&file).output().unwrap();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stdout));
    let pdf = client.fetch(&client.call("GET", &format!("{NORTE}/students/A20000/certificate.pdf"), None));
    assert!(pdf.starts_with(b"%PDF"));
    let zip_answer = client.call("POST", &format!("{NORTE}/certificates/download"), None);
    assert_eq!(zip_answer.json()["certificates"], 3);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(client.fetch(&zip_answer))).unwrap();
    let mut manifest = String::new();
    zip.by_name("manifiesto.csv").unwrap().read_to_string(&mut manifest).unwrap();
    assert_eq!(manifest.lines().count(), 4);

    // Email: the outbox holds the message with the XML attached.
    let mailed = client.ok("POST", &format!("{NORTE}/certificates/email"), Some(json!({"students": ["A20000"]})));
    assert_eq!(mailed["sent"], 1, "{mailed}");
    let outbox: Vec<_> =
        std::fs::read_dir(data.path().join("bandeja-de-salida")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(outbox.len(), 1);
    assert!(
        String::from_utf8_lossy(&std::fs::read(&outbox[0]).unwrap()).contains("filename=\"certificado-A20000.xml\"")
    );

    // Cancel; verification says so; a new certificate is issued.
    let cancelled = client.ok(
        "POST",
        &format!("{NORTE}/certificates/cancel"),
        Some(json!({"students": ["A20000"], "motive": "R3", "reason": "Corrección del nombre"})),
    );
    assert_eq!(cancelled["cancelled"], 1);
    let verdict = request("GET", &format!("{}/v1/verify/{folio}", client.server.base), &[], None).json();
    assert_eq!(verdict["status"], "cancelado");
    let reissued = client.ok("POST", &format!("{NORTE}/certificates/issue"), Some(json!({"students": ["A20000"]})));
    assert_eq!(outcome(&reissued, "A20000")["status"], "timbrado");

    // Credits: 4 certificates reached Timbrado (A20000 twice, A20005, A20001).
    let schools = client.ok("GET", "/v1/schools", None);
    assert_eq!(schools["schools"][0]["creditsAvailable"], 96);
    drop(client);
    let records = certifica_local::LocalRecords::open(&data.path().join("certifica.db")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (balance, ledger) = runtime.block_on(async {
        let t = Tenant::from_verified_identity("uva");
        (records.balance(&t).await.unwrap(), records.ledger(&t, None).await.unwrap())
    });
    assert_eq!((balance.available, balance.reserved, balance.consumed), (96, 0, 4));
    let count = |k: LedgerKind| ledger.iter().filter(|e| e.kind == k).count();
    assert_eq!(count(LedgerKind::Consumed), 4);
    assert_eq!(
        count(LedgerKind::Reserved),
        count(LedgerKind::Consumed) + count(LedgerKind::Released) + count(LedgerKind::Expired)
    );
}

/// `certifica serve` trusts the demo CA alone unless told otherwise: a
/// school trying its own test CA (or SAT's) adds it with
/// `--trust-signer-ca` or `CERTIFICA_SIGNER_CAS`.
#[test]
fn an_efirma_from_another_ca_registers_only_once_that_ca_is_trusted() {
    use base64::Engine;
    let work = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let ca = work.path().join("otra-ac");
    let status = std::process::Command::new("bash")
        .arg(repo.join("scripts/gen-efirma.sh"))
        .arg(work.path())
        .args(["propia", "MARÍA CRISTINA GÓMEZ RUIZ", "GOMC850412MDFRRR03", "00001000000500000042"])
        .args(["20240101000000Z", "20361231235959Z", "aes256", "clave-propia"])
        .env("GEN_EFIRMA_CA", &ca)
        .status()
        .unwrap();
    assert!(status.success());
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = json!({
        "responsable": {"curp": "GOMC850412MDFRRR03", "nombre": "María Cristina", "primerApellido": "Gómez",
            "segundoApellido": "Ruiz", "cargo": "ResponsableExpedicion"},
        "cer": b64.encode(std::fs::read(work.path().join("propia.cer")).unwrap()),
        "key": b64.encode(std::fs::read(work.path().join("propia.key")).unwrap()),
        "password": "clave-propia",
    });
    let ca_file = ca.join("ca.pem");
    let register = |server: &Server, data: &std::path::Path| {
        let token = std::process::Command::new(certifica_binary())
            .args(["token", "--institution", "uva", "--school", "norte", "--perms", "ver,timbrar,editar,administrar"])
            .arg("--data")
            .arg(data)
            .output()
            .unwrap();
        let token = String::from_utf8(token.stdout).unwrap();
        let auth = format!("Bearer {}", token.trim());
        let url = format!("{}/v1/schools/norte/signer", server.base);
        request("PUT", &url, &[("Authorization", &auth)], Some(&body))
    };
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_demo(data.path());
    let refused = register(&server, data.path());
    assert_eq!((refused.status, &refused.json()["code"]), (422, &json!("certificado_no_confiable")));
    drop(server);
    let server = Server::start_demo_with(data.path(), &["--trust-signer-ca".as_ref(), ca_file.as_os_str()]);
    let accepted = register(&server, data.path());
    assert_eq!(accepted.status, 200, "{}", String::from_utf8_lossy(&accepted.body));
    assert_eq!(accepted.json()["certificateNumber"], "00001000000500000042");
}
