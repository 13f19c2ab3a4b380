//! A cycle's zip (`POST …/certificates/download`): 5,000 stamped
//! certificates (real 40-subject documents: sealed with the demo e.firma,
//! stamped by the simulated authority, rendered to PDF) zipped with their
//! manifest and streamed to the artifact store. The zip runs in a child
//! process of its own so its peak RSS (VmHWM) is the zip's alone.
//! Budget: peak RSS ≤ 128 MB.
//!
//! Run: cargo bench -p certifica-api --bench bulk_zip

#[path = "../../core/tests/common/mod.rs"]
mod documents;

mod common;

use bytes::Bytes;
use certifica_core::document::Dec;
use certifica_core::efirma::Efirma;
use certifica_core::pdf::{PdfRenderer, RenderOptions, Variant};
use certifica_core::ports::{ArtifactKind, ArtifactStore, CertificateStore};
use certifica_core::records::{Actor, ArtifactRefs, CertificateRecord, CertificateStatus};
use certifica_core::stamping::LocalAuthority;
use common::STUDENTS;
use std::io::Read;
use std::path::Path;
use std::time::Instant;

const CER: &[u8] = include_bytes!("../../../assets/demo-efirma/responsable.cer");
const KEY: &[u8] = include_bytes!("../../../assets/demo-efirma/responsable.key");
/// Distinct real documents, repeated across the class (sizes and content as issued).
const DISTINCT: usize = 25;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--zip") {
        Some(i) => runtime.block_on(zip_in_child(Path::new(&args[i + 1]))),
        None => runtime.block_on(prepare_and_measure()),
    }
}

/// Real stamped XMLs and PDFs.
fn real_documents() -> Vec<(Vec<u8>, Vec<u8>)> {
    let efirma = Efirma::load(CER, KEY, b"demo-certifica").unwrap();
    let authority = LocalAuthority::simulated_sep().unwrap();
    let renderer = PdfRenderer::new().unwrap();
    let options = RenderOptions {
        variant: Variant::Normal,
        verify_base_url: "https://certifica.example.mx/v1/verify/".into(),
        logo: None,
    };
    (0..DISTINCT)
        .map(|n| {
            let sealed = documents::seal_sample(40, &efirma, &format!("2026-07-{:02}", 1 + n));
            let stamped = authority.authenticate(&sealed.xml).unwrap().xml;
            let pdf = renderer.render(&Dec::parse(&stamped).unwrap(), &options).unwrap();
            (stamped.into_bytes(), pdf)
        })
        .collect()
}

async fn prepare_and_measure() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (records, t) = common::seed_school(dir.path()).await;
    let docs = real_documents();
    let artifacts = common::artifacts(dir.path());
    let actor = Actor::new("bench", "bench");
    let mut bytes = 0;
    for n in 0..STUDENTS {
        let (xml, pdf) = &docs[n % DISTINCT];
        bytes += xml.len() + pdf.len();
        let name = format!("norte/2026/A{n:05}");
        let xml = artifacts.put(&t, ArtifactKind::StampedXml, &format!("{name}.xml"), xml.clone(), "").await.unwrap();
        let pdf = artifacts.put(&t, ArtifactKind::Pdf, &format!("{name}.pdf"), pdf.clone(), "").await.unwrap();
        let c = CertificateRecord {
            status: CertificateStatus::Timbrado,
            folio_digital: Some(format!("{:08X}-0000-4000-8000-{n:012}", 0x5E9)),
            stamped_at: Some(chrono::Utc::now()),
            artifacts: ArtifactRefs { stamped_xml: Some(xml.key), pdf: Some(pdf.key), ..ArtifactRefs::default() },
            ..common::sealed_certificate(n, chrono::NaiveDate::from_ymd_opt(2026, 7, 1).unwrap())
        };
        records.create(&t, &c, &actor).await.unwrap();
    }
    drop(records);
    println!(
        "zip del ciclo: {STUDENTS} certificados timbrados ({:.0} MB de XML + PDF; preparados en {:.0} s)",
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    for round in 1..=3 {
        let out =
            std::process::Command::new(std::env::current_exe().unwrap()).arg("--zip").arg(dir.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let line = String::from_utf8(out.stdout).unwrap();
        let mut fields = line.split_whitespace();
        let (seconds, peak_kb, token) = (fields.next().unwrap(), fields.next().unwrap(), fields.next().unwrap());
        let zip = check_zip(dir.path(), token);
        let peak_mb = peak_kb.parse::<f64>().unwrap() / 1024.0;
        println!(
            "  ronda {round}: {seconds} s, RSS pico {peak_mb:.1} MB, zip {:.0} MB — presupuesto ≤ 128 MB: {}",
            zip as f64 / 1e6,
            if peak_mb <= 128.0 { "cumple" } else { "NO cumple" }
        );
    }
}

/// The zip the link points to holds every document and a full manifest; its size.
fn check_zip(dir: &Path, token: &str) -> usize {
    let artifacts = common::artifacts(dir);
    let bytes = artifacts.open_link(token, chrono::Utc::now()).unwrap().unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
    assert_eq!(zip.len(), 2 * STUDENTS + 1);
    let mut manifest = String::new();
    zip.by_name("manifiesto.csv").unwrap().read_to_string(&mut manifest).unwrap();
    assert_eq!(manifest.lines().count(), STUDENTS + 1);
    bytes.len()
}

/// In the child: the zip through the API; prints seconds, VmHWM (kB) and the link token.
async fn zip_in_child(dir: &Path) {
    let records = certifica_local::LocalRecords::open(&dir.join("db")).unwrap();
    let api = common::api(dir, records);
    let who = common::viewer();
    let request =
        http::Request::post("/v1/schools/norte/cycles/2026/certificates/download").body(Bytes::new()).unwrap();
    let started = Instant::now();
    let response = api.handle(request, Ok(who), "bench").await;
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(response.body()));
    let answer: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(answer["certificates"], STUDENTS);
    let url = answer["url"].as_str().unwrap();
    let token = url.rsplit('/').next().unwrap();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let peak = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap().trim().trim_end_matches(" kB");
    println!("{seconds:.2} {peak} {token}");
}
