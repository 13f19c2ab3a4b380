//! Per-certificate cost of each stage with a 40-subject plan: build the XML,
//! cadena original, seal, simulated stamp, PDF — and the reference floor, one
//! RSA-2048 PKCS#1 v1.5 SHA-256 signature by aws-lc-rs over a fixed message.
//! Run: `cargo bench -p certifica-core --bench document`.

#[path = "../tests/common/mod.rs"]
mod common;

use certifica_core::cadena::cadena_original;
use certifica_core::document::{self, CertificateInput, Dec};
use certifica_core::efirma::Efirma;
use certifica_core::issue::seal_certificate;
use certifica_core::pdf::{PdfRenderer, RenderOptions, Variant};
use certifica_core::rules::{IssueContext, summarize};
use certifica_core::sello::seal;
use certifica_core::stamping::LocalAuthority;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

const CER: &[u8] = include_bytes!("../../../assets/demo-efirma/responsable.cer");
const KEY: &[u8] = include_bytes!("../../../assets/demo-efirma/responsable.key");

fn pipeline(c: &mut Criterion) {
    let efirma = Efirma::load(CER, KEY, b"demo-certifica").unwrap();
    let (inst, school, plan) = (common::institution(), common::school(), common::plan(40));
    let student = common::student(&plan);
    let resp = common::responsable();
    let ctx = IssueContext {
        institution: &inst,
        plan: &plan,
        student: &student,
        signer: Some((&resp, &efirma)),
        credits_available: 1,
        issue_date: common::date("2026-07-15"),
    };
    let summary = summarize(&plan, &student);
    let input = CertificateInput {
        institution: &inst,
        school: &school,
        plan: &plan,
        student: &student,
        responsable: &resp,
        summary: &summary,
        issue_date: ctx.issue_date,
        folio_control: "FC-1".into(),
    };
    let unsealed = document::build(&input);
    let sealed = seal_certificate(&ctx, &school, "FC-1").unwrap();
    let authority = LocalAuthority::simulated_sep().unwrap();
    let stamped = Dec::parse(&authority.authenticate(&sealed.xml).unwrap().xml).unwrap();
    let renderer = PdfRenderer::new().unwrap();
    let options = RenderOptions {
        variant: Variant::Normal,
        verify_base_url: "https://certifica.example.mx/v1/verify/".into(),
        logo: None,
    };

    let mut g = c.benchmark_group("certificado_40_materias");
    g.bench_function("referencia_firma_rsa2048_aws_lc_rs", |b| {
        b.iter(|| efirma.sign(black_box(b"mensaje fijo de referencia")).unwrap())
    });
    g.bench_function("1_reglas_y_xml", |b| {
        b.iter(|| {
            let summary = certifica_core::rules::check_before_issue(black_box(&ctx)).unwrap();
            let dec = document::build(&CertificateInput {
                summary: &summary,
                folio_control: "FC-1".into(),
                ..input_ref(&input)
            });
            black_box(dec.to_xml())
        })
    });
    g.bench_function("2_cadena_original", |b| b.iter(|| cadena_original(black_box(&unsealed)).unwrap()));
    g.bench_function("3_sello", |b| {
        b.iter(|| {
            let mut d = unsealed.clone();
            seal(&mut d, &efirma).unwrap();
            black_box(d)
        })
    });
    g.bench_function("xml_cadena_y_sello", |b| b.iter(|| seal_certificate(black_box(&ctx), &school, "FC-1").unwrap()));
    g.bench_function("4_timbre_simulado", |b| b.iter(|| authority.authenticate(black_box(&sealed.xml)).unwrap()));
    g.bench_function("5_pdf", |b| b.iter(|| renderer.render(black_box(&stamped), &options).unwrap()));
    // Paid once per process, at the first PDF: parse both faces, subset them and compress the subsets.
    g.bench_function("fuentes_una_vez_por_proceso", |b| b.iter(|| PdfRenderer::new().unwrap()));
    g.bench_function("documento_completo", |b| {
        b.iter(|| {
            let sealed = seal_certificate(&ctx, &school, "FC-1").unwrap();
            let stamped = authority.authenticate(&sealed.xml).unwrap();
            let dec = Dec::parse(&stamped.xml).unwrap();
            black_box(renderer.render(&dec, &options).unwrap())
        })
    });
    g.finish();
}

/// A copy of the input's references (CertificateInput holds only references and a folio).
fn input_ref<'a>(i: &CertificateInput<'a>) -> CertificateInput<'a> {
    CertificateInput {
        institution: i.institution,
        school: i.school,
        plan: i.plan,
        student: i.student,
        responsable: i.responsable,
        summary: i.summary,
        issue_date: i.issue_date,
        folio_control: i.folio_control.clone(),
    }
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
