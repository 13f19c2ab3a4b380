//! The `certifica` command as a signer uses it: sign, verify, render, and
//! one-line Spanish errors (never a panic) for wrong input.

use certifica_core::document::Dec;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_certifica");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn efirma(file: &str) -> PathBuf {
    repo().join("assets/demo-efirma").join(file)
}

fn certifica(args: &[&str]) -> Output {
    let out = Command::new(BIN).args(args).env_remove("CERTIFICA_KEY_PASSWORD").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A work folder with the demo's output and an unsealed document taken from it.
fn workdir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Under the target directory (cargo's scratch space for tests), replaced on each run.
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("certifica-cli-tests");
        let _ = std::fs::remove_dir_all(&dir);
        let out = certifica(&["demo", "--out", dir.join("demo").to_str().unwrap(), "--issue-date", "2026-07-15"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let mut dec = Dec::parse(&std::fs::read_to_string(dir.join("demo/A20000.xml")).unwrap()).unwrap();
        dec.sello.clear();
        dec.certificado_responsable.clear();
        dec.no_certificado_responsable.clear();
        dec.dreoe = None;
        dec.sep_ipes = None;
        std::fs::write(dir.join("sin-sello.xml"), dec.to_xml()).unwrap();
        dir
    })
}

fn sign_args<'a>(input: &'a str, out: &'a str, password_file: &'a str) -> Vec<String> {
    [
        "sign",
        "--cer",
        efirma("responsable.cer").to_str().unwrap(),
        "--key",
        efirma("responsable.key").to_str().unwrap(),
        "--password-file",
        password_file,
        "--out",
        out,
        input,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run_strings(args: &[String]) -> Output {
    certifica(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn sign_then_verify_accepts_the_document() {
    let dir = workdir();
    let input = dir.join("sin-sello.xml");
    let sealed = dir.join("sellado.xml");
    let pw = efirma("responsable.password");
    let out = run_strings(&sign_args(input.to_str().unwrap(), sealed.to_str().unwrap(), pw.to_str().unwrap()));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("00001000000700000001"));
    let v = certifica(&["verify", sealed.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(0), "{}", String::from_utf8_lossy(&v.stdout));
    assert!(String::from_utf8_lossy(&v.stdout).contains("Documento VÁLIDO"));
}

#[test]
fn the_password_can_come_from_the_environment_and_output_goes_to_stdout() {
    let dir = workdir();
    let out = Command::new(BIN)
        .args(["sign", "--cer"])
        .arg(efirma("responsable.cer"))
        .arg("--key")
        .arg(efirma("responsable.key"))
        .arg(dir.join("sin-sello.xml"))
        .env("CERTIFICA_KEY_PASSWORD", "demo-certifica")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let xml = String::from_utf8(out.stdout).unwrap();
    assert!(Dec::parse(&xml).unwrap().is_sealed());
}

#[test]
fn wrong_inputs_give_one_spanish_line_and_a_nonzero_exit() {
    let dir = workdir();
    let input = dir.join("sin-sello.xml");
    let input = input.to_str().unwrap();
    let out_path = dir.join("x.xml");
    let out_path = out_path.to_str().unwrap();
    let bad_pw = dir.join("mala.txt");
    std::fs::write(&bad_pw, "otra-clave\n").unwrap();
    let not_xml = dir.join("no-xml.xml");
    std::fs::write(&not_xml, "esto no es xml").unwrap();
    let good_pw = efirma("responsable.password");
    let good_pw = good_pw.to_str().unwrap();

    let cases: Vec<(Vec<String>, &str)> = vec![
        (sign_args(input, out_path, bad_pw.to_str().unwrap()), "contraseña de la llave privada es incorrecta"),
        (sign_args("/no/existe.xml", out_path, good_pw), "no se pudo leer /no/existe.xml"),
        (sign_args(not_xml.to_str().unwrap(), out_path, good_pw), "no es un documento XML"),
        (sign_args(dir.join("demo/A20000.xml").to_str().unwrap(), out_path, good_pw), "ya fue timbrado"),
        (vec!["verify".into(), "/no/existe.xml".into()], "no se pudo leer"),
        (
            vec!["render".into(), not_xml.to_str().unwrap().into(), "--out".into(), out_path.into()],
            "no es un documento XML",
        ),
    ];
    for (args, expected) in cases {
        let out = run_strings(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(err.starts_with("error: ") && err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    }
    // Without any password source.
    let out = certifica(&[
        "sign",
        "--cer",
        efirma("responsable.cer").to_str().unwrap(),
        "--key",
        efirma("responsable.key").to_str().unwrap(),
        input,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("CERTIFICA_KEY_PASSWORD"));
}

#[test]
fn sign_refuses_a_signer_whose_curp_differs_and_lists_invalid_values() {
    let dir = workdir();
    let mut dec = Dec::parse(&std::fs::read_to_string(dir.join("sin-sello.xml")).unwrap()).unwrap();
    dec.responsable.curp = "BADD110313HCMLNS06".into();
    let other = dir.join("otro-responsable.xml");
    std::fs::write(&other, dec.to_xml()).unwrap();
    let pw = efirma("responsable.password");
    let out = run_strings(&sign_args(other.to_str().unwrap(), "/dev/null", pw.to_str().unwrap()));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no coincide con la del responsable"), "{}", stderr(&out));

    dec.alumno.curp = "XXXX".into();
    dec.asignatura[0].creditos = "ocho".into();
    let bad = dir.join("valores.xml");
    std::fs::write(&bad, dec.to_xml()).unwrap();
    let out = run_strings(&sign_args(bad.to_str().unwrap(), "/dev/null", pw.to_str().unwrap()));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("Alumno/curp") && err.contains("Asignatura[1]/creditos"), "{err}");
}

#[test]
fn sign_warns_when_totals_disagree_but_still_seals() {
    let dir = workdir();
    let mut dec = Dec::parse(&std::fs::read_to_string(dir.join("sin-sello.xml")).unwrap()).unwrap();
    dec.asignaturas.asignadas = "99".into();
    let input = dir.join("totales.xml");
    std::fs::write(&input, dec.to_xml()).unwrap();
    let sealed = dir.join("totales-sellado.xml");
    let pw = efirma("responsable.password");
    let out = run_strings(&sign_args(input.to_str().unwrap(), sealed.to_str().unwrap(), pw.to_str().unwrap()));
    assert!(out.status.success());
    assert!(stderr(&out).contains("aviso: Asignaturas/asignadas es «99»"), "{}", stderr(&out));
}

#[test]
fn verify_reports_tampering_with_exit_1_and_json() {
    let dir = workdir();
    let xml = std::fs::read_to_string(dir.join("demo/A20001.xml")).unwrap();
    let mut dec = Dec::parse(&xml).unwrap();
    dec.asignatura[0].calificacion = "10".into();
    let tampered = dir.join("alterado.xml");
    std::fs::write(&tampered, dec.to_xml()).unwrap();
    let out = certifica(&["verify", tampered.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("✘ Sello del responsable") && text.contains("Documento NO VÁLIDO"), "{text}");
    let out = certifica(&["verify", "--json", tampered.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert!(report["checks"].as_array().unwrap().iter().any(|c| c["code"] == "sello" && c["ok"] == false));
    // Without trusting the simulator, a simulator stamp is not accepted.
    let out = certifica(&["verify", "--no-simulator", dir.join("demo/A20001.xml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn render_writes_a_pdf_in_each_variant() {
    let dir = workdir();
    let xml = dir.join("demo/A20002.xml");
    for (flag, name) in [(None, "normal.pdf"), (Some("--cancelled"), "cancelado.pdf"), (Some("--preview"), "vista.pdf")]
    {
        let out_path = dir.join(name);
        let mut args = vec!["render", xml.to_str().unwrap(), "--out", out_path.to_str().unwrap()];
        args.extend(flag);
        let out = certifica(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(std::fs::read(&out_path).unwrap().starts_with(b"%PDF-"));
    }
}

#[test]
fn a_document_sealed_with_openssl_passes_certifica_verify() {
    let dir = workdir();
    let mut dec = Dec::parse(&std::fs::read_to_string(dir.join("sin-sello.xml")).unwrap()).unwrap();
    // Everything but the signature comes from outside the signing code: the
    // certificate as Base64 of the DER, its number from the serial, the cadena.
    let der = std::fs::read(efirma("responsable.cer")).unwrap();
    dec.certificado_responsable = certifica_core::sello::to_base64(&der);
    dec.no_certificado_responsable = "00001000000700000001".into();
    let cadena = certifica_core::cadena::cadena_original(&dec).unwrap();
    let cadena_path = dir.join("cadena-openssl.txt");
    std::fs::write(&cadena_path, &cadena).unwrap();
    let key_pem = dir.join("llave.pem");
    let status = Command::new("openssl")
        .args(["pkcs8", "-inform", "DER", "-in"])
        .arg(efirma("responsable.key"))
        .args(["-passin", "pass:demo-certifica", "-out"])
        .arg(&key_pem)
        .status()
        .unwrap();
    assert!(status.success());
    let sig =
        Command::new("openssl").args(["dgst", "-sha256", "-sign"]).arg(&key_pem).arg(&cadena_path).output().unwrap();
    assert!(sig.status.success());
    dec.sello = certifica_core::sello::to_base64(&sig.stdout);
    let path = dir.join("sellado-openssl.xml");
    std::fs::write(&path, dec.to_xml()).unwrap();
    let out = certifica(&["verify", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn render_takes_a_png_logo_and_refuses_other_files() {
    let dir = workdir();
    let xml = dir.join("demo/A20003.xml");
    let out_path = dir.join("con-logo.pdf");
    let logo = repo().join("assets/demo-logo.png");
    let out = certifica(&[
        "render",
        xml.to_str().unwrap(),
        "--out",
        out_path.to_str().unwrap(),
        "--logo",
        logo.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = certifica(&[
        "render",
        xml.to_str().unwrap(),
        "--out",
        out_path.to_str().unwrap(),
        "--logo",
        xml.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("el logotipo no se puede usar: debe ser una imagen PNG"), "{}", stderr(&out));
}

#[cfg(unix)]
#[test]
fn the_data_folder_and_its_key_are_private_to_their_user() {
    use std::os::unix::fs::PermissionsExt;
    let data = workdir().join("datos-privados");
    let _ = std::fs::remove_dir_all(&data);
    let out = certifica(&["token", "--institution", "uva", "--school", "norte", "--data", data.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("secret.key")), 0o600);
}
