//! The printed representation, checked with poppler's pdftotext / pdfinfo.

mod common;

use certifica_core::document::Dec;
use certifica_core::pdf::{PdfRenderer, RenderOptions, Variant};
use certifica_core::stamping::LocalAuthority;
use common::*;
use std::process::Command;

fn stamped(n: usize) -> Dec {
    let sealed = seal_sample(n, &fixtures().des3.load(), "2026-07-15");
    let stamped = LocalAuthority::simulated_sep().unwrap().authenticate(&sealed.xml).unwrap();
    Dec::parse(&stamped.xml).unwrap()
}

fn options(variant: Variant) -> RenderOptions {
    RenderOptions { variant, verify_base_url: "https://certifica.example.mx/v1/verify/".into(), logo: None }
}

/// Writes the PDF and returns (text, pages) as poppler sees them.
fn poppler(name: &str, pdf: &[u8]) -> (String, usize) {
    let path = fixtures().dir.join(name);
    std::fs::write(&path, pdf).unwrap();
    let text = run(Command::new("pdftotext").args(["-enc", "UTF-8"]).arg(&path).arg("-"));
    let info = run(Command::new("pdfinfo").arg(&path));
    let info = String::from_utf8(info.stdout).unwrap();
    let pages = info.lines().find_map(|l| l.strip_prefix("Pages:")).unwrap().trim().parse().unwrap();
    (String::from_utf8(text.stdout).unwrap(), pages)
}

fn squeeze(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

#[test]
fn the_pdf_carries_the_legends_with_extractable_accented_text() {
    let dec = stamped(12);
    let pdf = PdfRenderer::new().unwrap().render(&dec, &options(Variant::Normal)).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let (text, pages) = poppler("normal.pdf", &pdf);
    assert_eq!(pages, 1);
    for needle in [
        "José Ángel Peña Ñúñez",
        "CERTIFICADO TOTAL DE ESTUDIOS",
        "Universidad Tecnológica del Valle de Anáhuac",
        "COYOACÁN",
        "20160712",
        "12 de julio de 2016",
        "Licenciatura en Administración de Empresas",
        "PENA000101HDFRRL04",
        "A0012345",
        "Introducción a la Administración",
        "E.E.",
        "María Cristina Gómez Ruiz",
        "00001000000500000001",
        "00001000000900000001",
        "representación impresa de un certificado electrónico",
        "e.firma",
        "Ciudad de México, el 15 de julio de 2026",
    ] {
        assert!(text.contains(needle), "missing «{needle}» in:\n{text}");
    }
    let flat = squeeze(&text);
    let folio = dec.folio_digital().unwrap();
    assert!(flat.contains(folio), "folio missing");
    assert!(flat.contains(&format!("https://certifica.example.mx/v1/verify/{folio}")));
    assert!(flat.contains(&dec.sello), "school sello missing");
    assert!(flat.contains(&dec.sep_ipes.as_ref().unwrap().sello_sep_ipes), "authority sello missing");
    assert!(!text.contains("CANCELADO") && !text.contains("VISTA PREVIA"));
    assert!(pdf.len() < 150_000, "fonts must be subset: {} bytes", pdf.len());
}

#[test]
fn a_long_plan_flows_onto_further_pages_with_every_subject() {
    let dec = stamped(80);
    let pdf = PdfRenderer::new().unwrap().render(&dec, &options(Variant::Normal)).unwrap();
    let (text, pages) = poppler("long.pdf", &pdf);
    assert!(pages >= 3, "80 subjects should need several pages, got {pages}");
    for i in 1..=80 {
        assert!(text.contains(&format!("ADM{i:03}")), "subject ADM{i:03} missing");
    }
    assert!(text.contains(&format!("Página {pages} de {pages}")));
    // pdftotext separates pages with a form feed: every page with subjects repeats the header.
    for (i, page) in text.split('\u{c}').enumerate().filter(|(_, p)| p.contains("ADM0")) {
        assert!(page.contains("Calif.") && page.contains("Créditos"), "page {} lacks the table header", i + 1);
    }
}

/// Page 1 rendered by pdftoppm in grey at `dpi`: (width, height, pixels).
/// PGM is a short header ("P5\n<w> <h>\n255\n") followed by one byte per pixel.
fn grey_page(name: &str, pdf: &[u8], dpi: u32) -> (usize, usize, Vec<u8>) {
    let path = fixtures().dir.join(name);
    std::fs::write(&path, pdf).unwrap();
    let out = run(Command::new("pdftoppm").args(["-gray", "-r", &dpi.to_string(), "-f", "1", "-l", "1"]).arg(&path));
    let header: Vec<&[u8]> = out.stdout.splitn(4, |&b| b == b'\n').collect();
    assert_eq!(header[0], b"P5");
    let size = std::str::from_utf8(header[1]).unwrap();
    let (w, h) = size.split_once(' ').unwrap();
    let (w, h): (usize, usize) = (w.parse().unwrap(), h.parse().unwrap());
    let pixels = header[3].to_vec();
    assert_eq!(pixels.len(), w * h);
    (w, h, pixels)
}

#[test]
fn the_qr_code_reads_back_as_the_verification_address() {
    let dec = stamped(12);
    let pdf = PdfRenderer::new().unwrap().render(&dec, &options(Variant::Normal)).unwrap();
    let (w, h, pixels) = grey_page("qr.pdf", &pdf, 150);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the page");
    let (_, content) = grids[0].decode().unwrap();
    assert_eq!(content, format!("https://certifica.example.mx/v1/verify/{}", dec.folio_digital().unwrap()));
}

#[test]
fn text_outside_the_prepared_repertoire_is_printed_with_the_whole_fonts() {
    let mut dec = stamped(4);
    dec.alumno.nombre = "Łukasz".into();
    dec.alumno.primer_apellido = "Dvořák".into();
    dec.asignatura[0].nombre = "Lógica ∀∃ y conjuntos ∅".into();
    let pdf = PdfRenderer::new().unwrap().render(&dec, &options(Variant::Normal)).unwrap();
    let (text, _) = poppler("fuera-del-repertorio.pdf", &pdf);
    for needle in ["Łukasz Dvořák", "Lógica ∀∃ y conjuntos ∅", "CERTIFICADO TOTAL DE ESTUDIOS"] {
        assert!(text.contains(needle), "missing «{needle}» in:\n{text}");
    }
    // Those fonts are subset for this document: named with a tag of their own, not the prepared ones'.
    let path = fixtures().dir.join("fuera-del-repertorio.pdf");
    let fonts = String::from_utf8(run(Command::new("pdffonts").arg(&path)).stdout).unwrap();
    assert!(fonts.contains("+DejaVuSansCondensed ") && !fonts.contains("CRTFRG+"), "{fonts}");

    // A document within the repertoire embeds the prepared subsets.
    let plain = PdfRenderer::new().unwrap().render(&stamped(4), &options(Variant::Normal)).unwrap();
    std::fs::write(&path, &plain).unwrap();
    let fonts = String::from_utf8(run(Command::new("pdffonts").arg(&path)).stdout).unwrap();
    assert!(
        fonts.contains("CRTFRG+DejaVuSansCondensed ") && fonts.contains("CRTFBD+DejaVuSansCondensed-Bold "),
        "{fonts}"
    );
}

/// Counts strongly red pixels of page 1 rendered by pdftoppm (PPM is a
/// short header followed by raw RGB bytes).
fn red_pixels(name: &str, pdf: &[u8]) -> usize {
    let path = fixtures().dir.join(name);
    std::fs::write(&path, pdf).unwrap();
    let out = run(Command::new("pdftoppm").args(["-r", "30", "-f", "1", "-l", "1"]).arg(&path));
    let ppm = out.stdout;
    // Header: "P6\n<w> <h>\n255\n".
    let mut newlines = 0;
    let start = ppm
        .iter()
        .position(|&b| {
            newlines += usize::from(b == b'\n');
            newlines == 3
        })
        .unwrap()
        + 1;
    ppm[start..].chunks_exact(3).filter(|p| p[0] > 200 && p[1] < 170 && p[2] < 170).count()
}

#[test]
fn cancelled_and_preview_variants_are_marked() {
    let dec = stamped(5);
    let r = PdfRenderer::new().unwrap();
    let cancelled_pdf = r.render(&dec, &options(Variant::Cancelled)).unwrap();
    let (cancelled, _) = poppler("cancelado.pdf", &cancelled_pdf);
    assert!(cancelled.contains("CERTIFICADO CANCELADO — SIN VALIDEZ"));
    // The large red mark is drawn across the page; the normal PDF has no red at all.
    let normal_pdf = r.render(&dec, &options(Variant::Normal)).unwrap();
    assert_eq!(red_pixels("normal-red.pdf", &normal_pdf), 0);
    assert!(red_pixels("cancelado-red.pdf", &cancelled_pdf) > 1500);
    let (preview, _) = poppler("preview.pdf", &r.render(&dec, &options(Variant::Preview)).unwrap());
    assert!(preview.contains("VISTA PREVIA — SIN VALIDEZ OFICIAL"));
}

#[test]
fn the_title_follows_the_type_of_certificate() {
    let mut dec = stamped(3);
    dec.expedicion.id_tipo_certificacion = "80".into();
    let pdf = PdfRenderer::new().unwrap().render(&dec, &options(Variant::Normal)).unwrap();
    let (text, _) = poppler("parcial.pdf", &pdf);
    assert!(text.contains("CERTIFICADO PARCIAL DE ESTUDIOS"));
}

#[test]
fn the_institution_logo_is_printed_when_given_and_bad_images_are_refused() {
    use certifica_core::pdf::{Logo, PdfError};
    let png = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/demo-logo.png")).unwrap();
    let logo = std::sync::Arc::new(Logo::from_png(&png).unwrap());
    let dec = stamped(3);
    let mut opts = options(Variant::Normal);
    opts.logo = Some(logo);
    let pdf = PdfRenderer::new().unwrap().render(&dec, &opts).unwrap();
    let path = fixtures().dir.join("logo.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let list = String::from_utf8(run(Command::new("pdfimages").arg("-list").arg(&path)).stdout).unwrap();
    // Header, rule, then one line per image: page 1, 120 × 60 pixels.
    let images: Vec<&str> = list.lines().skip(2).collect();
    assert_eq!(images.len(), 1, "{list}");
    let cols: Vec<&str> = images[0].split_whitespace().collect();
    assert_eq!((cols[0], cols[3], cols[4]), ("1", "120", "60"), "{list}");
    // Without a logo there is no image at all.
    let plain = PdfRenderer::new().unwrap().render(&dec, &options(Variant::Normal)).unwrap();
    std::fs::write(&path, &plain).unwrap();
    let list = String::from_utf8(run(Command::new("pdfimages").arg("-list").arg(&path)).stdout).unwrap();
    assert_eq!(list.lines().count(), 2, "{list}");

    assert!(matches!(Logo::from_png(b"GIF89a"), Err(PdfError::Logo(_))));
    assert!(matches!(Logo::from_png(&png[..40]), Err(PdfError::Logo(_))));
    assert!(matches!(Logo::from_png(&vec![0u8; 2 * 1024 * 1024]), Err(PdfError::Logo(_))));
}
