//! The subcommands. Each returns the exit code, or a [`CliError`] that main
//! prints as one Spanish line (exit 2).

use crate::demo::{demo_efirma, demo_institutions};
use certifica_core::checks::{totals_warnings, value_problems};
use certifica_core::curp::Curp;
use certifica_core::document::{Dec, DocumentError, MAX_DOCUMENT_BYTES};
use certifica_core::efirma::{Efirma, EfirmaError, SignerCertificate};
use certifica_core::issue::{IssueError, seal_and_stamp_autonomo, seal_certificate};
use certifica_core::model::InstitutionType;
use certifica_core::pdf::{Logo, MAX_LOGO_BYTES, PdfError, PdfRenderer, RenderOptions, Variant};
use certifica_core::rules::IssueContext;
use certifica_core::sello::{SealError, seal};
use certifica_core::stamping::{AuthoritySigner, LocalAuthority, simulated_sep_certificate};
use certifica_core::verify::verify as verify_document;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Verification address used when none is configured (the local server).
pub const DEFAULT_VERIFY_BASE: &str = "http://127.0.0.1:3000/v1/verify/";

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("no se pudo leer {0}: {1}")]
    Read(PathBuf, String),
    #[error("no se pudo escribir {0}: {1}")]
    Write(PathBuf, String),
    #[error("{0} supera el tamaño máximo de {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge(PathBuf),
    #[error("{0} no es texto UTF-8")]
    NotUtf8(PathBuf),
    #[error("{0}: {1}")]
    Document(PathBuf, DocumentError),
    #[error("falta la contraseña de la llave: use --password-file o la variable CERTIFICA_KEY_PASSWORD")]
    NoPassword,
    #[error("e.firma: {0}")]
    Efirma(#[from] EfirmaError),
    #[error("{0}")]
    Seal(#[from] SealError),
    #[error("el documento ya tiene sello; sellar de nuevo lo reemplazaría (use el documento sin sello)")]
    AlreadySealed,
    #[error("el documento tiene {} problema(s):\n{}", .0.len(), .0.join("\n"))]
    Invalid(Vec<String>),
    #[error("{0}")]
    Pdf(#[from] PdfError),
    #[error("fecha «{0}» inválida: use AAAA-MM-DD")]
    Date(String),
    #[error("no se pudo crear el token: {0}")]
    Token(String),
    #[error("almacenamiento local: {0}")]
    Store(String),
    #[error("servidor: {0}")]
    Serve(String),
    #[error("{0}")]
    Usage(String),
}

fn read_bytes(path: &Path, limit: usize) -> Result<Vec<u8>, CliError> {
    let meta = std::fs::metadata(path).map_err(|e| CliError::Read(path.into(), e.to_string()))?;
    if meta.len() > limit as u64 {
        return Err(CliError::TooLarge(path.into()));
    }
    std::fs::read(path).map_err(|e| CliError::Read(path.into(), e.to_string()))
}

fn read_document(path: &Path) -> Result<String, CliError> {
    String::from_utf8(read_bytes(path, MAX_DOCUMENT_BYTES)?).map_err(|_| CliError::NotUtf8(path.into()))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, bytes).map_err(|e| CliError::Write(path.into(), e.to_string()))
}

/// The password without its final line break (files often end with one).
fn password(file: Option<&Path>) -> Result<Vec<u8>, CliError> {
    let mut bytes = match file {
        Some(f) => read_bytes(f, 4096)?,
        None => std::env::var("CERTIFICA_KEY_PASSWORD").map_err(|_| CliError::NoPassword)?.into_bytes(),
    };
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    Ok(bytes)
}

pub fn sign(
    cer: &Path,
    key: &Path,
    password_file: Option<&Path>,
    out: Option<&Path>,
    input: &Path,
) -> Result<ExitCode, CliError> {
    let efirma = Efirma::load(&read_bytes(cer, 64 * 1024)?, &read_bytes(key, 64 * 1024)?, &password(password_file)?)?;
    if input.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip")) {
        let out = out.ok_or_else(|| CliError::Usage("para sellar un ZIP indique --out sellados.zip".into()))?;
        return sign_zip(&efirma, out, input);
    }
    let sealed = seal_document(&efirma, input, &read_document(input)?)?;
    match out {
        Some(path) => {
            write_file(path, sealed.as_bytes())?;
            eprintln!("documento sellado con el certificado {} → {}", efirma.certificate().number(), path.display());
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(sealed.as_bytes()).map_err(|e| CliError::Write("stdout".into(), e.to_string()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Seals one unsealed document (`name` says where it came from in errors).
fn seal_document(efirma: &Efirma, name: &Path, xml: &str) -> Result<String, CliError> {
    let mut dec = Dec::parse(xml).map_err(|e| CliError::Document(name.into(), e))?;
    if dec.is_stamped() {
        return Err(CliError::Seal(SealError::AlreadyStamped));
    }
    if dec.is_sealed() || !dec.certificado_responsable.is_empty() || !dec.no_certificado_responsable.is_empty() {
        return Err(CliError::AlreadySealed);
    }
    let problems = value_problems(&dec);
    if !problems.is_empty() {
        return Err(CliError::Invalid(problems.iter().map(|p| format!("  - {}: {p}", name.display())).collect()));
    }
    let curp = Curp::parse(&dec.responsable.curp)
        .map_err(|e| CliError::Invalid(vec![format!("  - Responsable/curp: {e}")]))?;
    let issue_date = dec.issue_date().ok_or_else(|| CliError::Invalid(vec!["  - Expedicion/fecha ilegible".into()]))?;
    efirma.check_usable(issue_date, &curp)?;
    // The seal is made now: an expired e.firma cannot seal with an earlier date.
    efirma.certificate().check_valid_on(certifica_api::today_in_mexico())?;
    for warning in totals_warnings(&dec) {
        eprintln!("aviso: {warning} ({})", name.display());
    }
    seal(&mut dec, efirma)?;
    Ok(dec.to_xml())
}

/// Seals every document of a zip (as exported with export-unsealed) into
/// another zip, ready for the inbox. Read with the inbox's own limits.
fn sign_zip(efirma: &Efirma, out: &Path, input: &Path) -> Result<ExitCode, CliError> {
    let bytes = read_bytes(input, certifica_api::inbox::MAX_UPLOAD_BYTES)?;
    let name = input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let upload =
        certifica_api::inbox::read(&name, &bytes).map_err(|e| CliError::Usage(format!("{}: {e}", input.display())))?;
    if let Some((entry, why)) = upload.refused.first() {
        return Err(CliError::Usage(format!("{entry}: {why}")));
    }
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let zip_error = |e: &dyn std::fmt::Display| CliError::Write(out.into(), e.to_string());
    for found in &upload.documents {
        let entry = found.name.rsplit('/').next().unwrap_or(&found.name).to_string();
        let sealed = seal_document(efirma, Path::new(&found.name), &found.xml)?;
        zip.start_file(entry, options).map_err(|e| zip_error(&e))?;
        zip.write_all(sealed.as_bytes()).map_err(|e| zip_error(&e))?;
    }
    let bytes = zip.finish().map_err(|e| zip_error(&e))?.into_inner();
    write_file(out, &bytes)?;
    eprintln!(
        "{} documento(s) sellado(s) con el certificado {} → {}",
        upload.documents.len(),
        efirma.certificate().number(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// What the authority's portal does with a zip of sealed documents, with
/// the simulated authority: authenticates each and answers a zip of the
/// stamped documents with a results sheet (`resultados.csv`). Folios in
/// `refuse` are answered as refused, to try the Error path by hand.
pub fn simulated_portal(input: &Path, out: &Path, refuse: &[String]) -> Result<ExitCode, CliError> {
    let bytes = read_bytes(input, certifica_api::inbox::MAX_UPLOAD_BYTES)?;
    let name = input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let upload =
        certifica_api::inbox::read(&name, &bytes).map_err(|e| CliError::Usage(format!("{}: {e}", input.display())))?;
    let authority = LocalAuthority::simulated_sep()?;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let zip_error = |e: &dyn std::fmt::Display| CliError::Write(out.into(), e.to_string());
    let mut sheet = csv::Writer::from_writer(Vec::new());
    sheet.write_record(["folioControl", "estatus", "folioDigital", "mensaje"]).map_err(|e| zip_error(&e))?;
    let (mut stamped, mut refused) = (0, 0);
    for found in &upload.documents {
        let folio = found.dec.folio_control.clone();
        let outcome = if refuse.contains(&folio) {
            Err("rechazado por la autoridad (simulado)".to_string())
        } else {
            authority.authenticate(&found.xml).map_err(|e| e.to_string())
        };
        match outcome {
            Ok(s) => {
                let entry = found.name.rsplit('/').next().unwrap_or(&found.name).to_string();
                zip.start_file(entry, options).map_err(|e| zip_error(&e))?;
                zip.write_all(s.xml.as_bytes()).map_err(|e| zip_error(&e))?;
                sheet.write_record([folio.as_str(), "Autenticado", &s.folio_digital, ""]).map_err(|e| zip_error(&e))?;
                stamped += 1;
            }
            Err(message) => {
                sheet.write_record([folio.as_str(), "Rechazado", "", &message]).map_err(|e| zip_error(&e))?;
                refused += 1;
            }
        }
    }
    zip.start_file("resultados.csv", options).map_err(|e| zip_error(&e))?;
    zip.write_all(&sheet.into_inner().map_err(|e| zip_error(&e))?).map_err(|e| zip_error(&e))?;
    write_file(out, &zip.finish().map_err(|e| zip_error(&e))?.into_inner())?;
    eprintln!("autoridad simulada: {stamped} autenticado(s), {refused} rechazado(s) → {}", out.display());
    Ok(ExitCode::SUCCESS)
}

pub fn verify(file: &Path, json: bool, trust: &[PathBuf], trust_simulator: bool) -> Result<ExitCode, CliError> {
    let xml = read_document(file)?;
    let mut authorities = Vec::new();
    for path in trust {
        authorities.push(SignerCertificate::from_der(&read_bytes(path, 64 * 1024)?)?);
    }
    if trust_simulator {
        authorities.push(simulated_sep_certificate()?);
    }
    let report = verify_document(&xml, &authorities);
    if json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    } else {
        println!("Verificación de {}", file.display());
        for c in &report.checks {
            println!("  {} {}: {}", if c.ok { "✔" } else { "✘" }, c.title, c.detail);
        }
        if let Some(folio) = &report.folio_digital {
            println!("  Folio digital: {folio}");
        }
        let simulated = simulated_sep_certificate()?;
        if report.stamped && xml.contains(&format!("noCertificadoSepIpes=\"{}\"", simulated.number())) {
            println!("  Nota: timbrado por la autoridad SIMULADA de Certifica (sin validez oficial).");
        }
        println!("{}", if report.valid { "Documento VÁLIDO" } else { "Documento NO VÁLIDO" });
    }
    Ok(if report.valid { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

pub fn render(
    file: &Path,
    out: &Path,
    cancelled: bool,
    preview: bool,
    verify_base_url: &str,
    logo: Option<&Path>,
) -> Result<ExitCode, CliError> {
    let xml = read_document(file)?;
    let dec = Dec::parse(&xml).map_err(|e| CliError::Document(file.into(), e))?;
    let variant = match (cancelled, preview) {
        (true, _) => Variant::Cancelled,
        (_, true) => Variant::Preview,
        _ => Variant::Normal,
    };
    let logo = match logo {
        Some(path) => Some(std::sync::Arc::new(Logo::from_png(&read_bytes(path, MAX_LOGO_BYTES)?)?)),
        None => None,
    };
    let pdf =
        PdfRenderer::new()?.render(&dec, &RenderOptions { variant, verify_base_url: verify_base_url.into(), logo })?;
    write_file(out, &pdf)?;
    eprintln!("PDF generado: {}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// Issues every demo student's certificate of the first school of each
/// institution into `out`, reporting refusals with their reasons.
pub fn demo(out: &Path, issue_date: Option<&str>) -> Result<ExitCode, CliError> {
    let issue_date = match issue_date {
        Some(s) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| CliError::Date(s.into()))?,
        None => chrono::Local::now().date_naive(),
    };
    std::fs::create_dir_all(out).map_err(|e| CliError::Write(out.into(), e.to_string()))?;
    let renderer = PdfRenderer::new()?;
    let sep = LocalAuthority::simulated_sep()?;
    let efirma = demo_efirma()?;
    let mut summary = Vec::new();
    let (mut issued, mut refused) = (0, 0);
    for demo in demo_institutions() {
        let school = &demo.schools[0];
        // An autonomous university stamps with its own node (same demo e.firma).
        let own_node = (demo.institution.kind == InstitutionType::Autonomo).then(|| {
            demo_efirma().map(|e| {
                LocalAuthority::institution_node(
                    e,
                    AuthoritySigner {
                        curp: demo.responsable.curp.clone(),
                        nombre_completo: demo.responsable.full_name(),
                        cargo: demo.responsable.cargo,
                    },
                )
            })
        });
        let own_node = own_node.transpose()?;
        for (n, student) in demo
            .students
            .iter()
            .filter(|s| demo.plans.iter().any(|p| p.id == s.plan_id && p.school_id == school.id))
            .enumerate()
        {
            let Some(plan) = demo.plans.iter().find(|p| p.id == student.plan_id) else { continue };
            let ctx = IssueContext {
                institution: &demo.institution,
                plan,
                student,
                signer: Some((&demo.responsable, &efirma)),
                credits_available: 100,
                issue_date,
            };
            let folio_control =
                format!("{}-{}-{:04}", demo.institution.id.to_uppercase(), issue_date.format("%Y"), n + 1);
            let outcome = match &own_node {
                Some(node) => seal_and_stamp_autonomo(&ctx, school, &folio_control, node),
                None => seal_certificate(&ctx, school, &folio_control).and_then(|sealed| {
                    let stamped = sep.authenticate(&sealed.xml)?;
                    Ok((sealed, stamped))
                }),
            };
            let line = match outcome {
                Err(IssueError::Rules(problems)) => {
                    refused += 1;
                    let reasons: Vec<String> = problems.iter().map(|p| format!("{} ({})", p, p.code())).collect();
                    format!("RECHAZADO {} {}: {}", student.control_number, student.full_name(), reasons.join("; "))
                }
                Err(IssueError::Stamp(e)) => {
                    refused += 1;
                    format!("ERROR EN TIMBRADO {} {}: {e}", student.control_number, student.full_name())
                }
                Err(e) => {
                    refused += 1;
                    format!("RECHAZADO {} {}: {e}", student.control_number, student.full_name())
                }
                Ok((sealed, stamped)) => {
                    let dec = Dec::parse(&stamped.xml).map_err(|e| CliError::Document(out.into(), e))?;
                    let pdf = renderer.render(
                        &dec,
                        &RenderOptions {
                            variant: Variant::Normal,
                            verify_base_url: DEFAULT_VERIFY_BASE.into(),
                            logo: None,
                        },
                    )?;
                    let base = out.join(&student.control_number);
                    write_file(&base.with_extension("xml"), stamped.xml.as_bytes())?;
                    write_file(&base.with_extension("pdf"), &pdf)?;
                    issued += 1;
                    format!(
                        "TIMBRADO {} {} · {} · folio {} · promedio {} · créditos {} de {}",
                        student.control_number,
                        student.full_name(),
                        sealed.summary.tipo,
                        stamped.folio_digital,
                        sealed.summary.average.fixed2(),
                        sealed.summary.credits_obtained.fixed2(),
                        sealed.summary.total_credits.fixed2()
                    )
                }
            };
            println!("{line}");
            summary.push(line);
        }
    }
    summary.push(format!("{issued} timbrados, {refused} rechazados"));
    write_file(&out.join("resumen.txt"), summary.join("\n").as_bytes())?;
    println!("{issued} certificados timbrados y {refused} rechazados en {}", out.display());
    println!("Autoridad SIMULADA y e.firma de demostración: los documentos no tienen validez oficial.");
    println!("Verifique uno con: certifica verify {}", out.join("<matrícula>.xml").display());
    Ok(ExitCode::SUCCESS)
}
