//! The printed representation of a certificate (SEP-FORMAT.md, "The printed
//! representation"): A4 pages with the institution, RVOE, career and plan,
//! the student, the subjects table (flowing onto further pages, header
//! repeated), totals, the signer and the school's sello, the authority's
//! stamp once stamped, a QR code to the verification address, and the legend
//! that it is the printed form of an electronic document sealed with e.firma.
//! Variants: a conspicuous "CANCELADO" mark, and the
//! "VISTA PREVIA — SIN VALIDEZ OFICIAL" watermark.
//!
//! Text is real text in an embedded, subset DejaVu Sans Condensed (accents and
//! ñ extractable with `pdftotext`); the QR code is drawn as vector squares.
//!
//! Fonts are subset once per process to a repertoire (Latin-1 and the
//! legends' punctuation) and that subset's font program is compressed once:
//! subsetting and compressing both faces for every document was a third of a
//! certificate's PDF time. A document with any character outside the
//! repertoire (a foreign name, a symbol in a subject) is printed with the whole
//! fonts instead, subset for that document.
//!
//! Here: what the certificate says and in which order; [`layout`] puts text
//! on pages, [`fonts`] prepares and embeds the font, [`qr`] draws the code.

mod fonts;
mod layout;
mod qr;

use crate::document::{Dec, parse_date_time};
use crate::model::full_name;
use fonts::{BOLD_TTF, Fonts, REGULAR_TTF, Typeface, in_repertoire, save};
use layout::{FOOTER_Y, Face, Layout, MARGIN, PAGE_H, PAGE_W, watermark};
use printpdf::{Mm, Op, PdfDocument, PdfFontHandle, PdfPage, Point, Pt, TextItem, TextMatrix};
use qr::{QR_SIZE, qr_ops};

/// Which form of the document to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Variant {
    #[default]
    Normal,
    Cancelled,
    Preview,
}

/// What the PDF needs besides the document.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub variant: Variant,
    /// Base of the verification address; the folio is appended
    /// (`https://…/v1/verify/` + folio).
    pub verify_base_url: String,
    /// The institution's logo, printed at the top left when given.
    pub logo: Option<std::sync::Arc<Logo>>,
}

/// Largest logo file accepted (bytes).
pub const MAX_LOGO_BYTES: usize = 1024 * 1024;

/// Printed logo box (mm): fits within this height and width, keeping its proportions.
const LOGO_H: f32 = 18.0;

const LOGO_W: f32 = 30.0;

/// A decoded institution logo (PNG), decoded once and reused for every PDF.
#[derive(Debug, Clone)]
pub struct Logo {
    image: printpdf::RawImage,
}

impl Logo {
    /// Decodes a PNG logo.
    pub fn from_png(bytes: &[u8]) -> Result<Self, PdfError> {
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(PdfError::Logo(format!("el archivo supera {} KB", MAX_LOGO_BYTES / 1024)));
        }
        if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Err(PdfError::Logo("debe ser una imagen PNG".into()));
        }
        let image = printpdf::RawImage::decode_from_bytes(bytes, &mut Vec::new()).map_err(PdfError::Logo)?;
        if image.width == 0 || image.height == 0 {
            return Err(PdfError::Logo("la imagen está vacía".into()));
        }
        Ok(Logo { image })
    }
}

/// Why a PDF could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfError {
    #[error("no se pudo cargar la fuente tipográfica incluida")]
    Font,
    #[error("no se pudo generar el código QR: {0}")]
    Qr(String),
    #[error("el logotipo no se puede usar: {0}")]
    Logo(String),
}

/// Renders certificates; holds the fonts, parsed and subset once per process.
pub struct PdfRenderer {
    regular: Typeface,
    bold: Typeface,
}

impl std::fmt::Debug for PdfRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PdfRenderer")
    }
}

/// The document's title from `idTipoCertificacion`.
pub fn title(dec: &Dec) -> &'static str {
    if dec.expedicion.id_tipo_certificacion.trim() == "80" {
        "Certificado Parcial de Estudios"
    } else {
        "Certificado Total de Estudios"
    }
}

/// The verification address of a document (by folioDigital, else folioControl).
pub fn verification_url(dec: &Dec, base: &str) -> String {
    let folio = dec.folio_digital().unwrap_or(dec.folio_control.as_str());
    format!("{}{}", base, folio)
}

/// Spanish long date ("28 de noviembre de 2026").
pub fn long_date(text: &str) -> String {
    const MONTHS: [&str; 12] = [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ];
    match parse_date_time(text) {
        Some(d) => {
            use chrono::Datelike;
            format!("{} de {} de {}", d.day(), MONTHS[d.month0() as usize], d.year())
        }
        None => text.to_string(),
    }
}

impl PdfRenderer {
    /// Parses the embedded fonts and subsets them to the repertoire (once per process).
    pub fn new() -> Result<Self, PdfError> {
        Ok(PdfRenderer { regular: Typeface::new(REGULAR_TTF, "CRTFRG")?, bold: Typeface::new(BOLD_TTF, "CRTFBD")? })
    }

    /// Renders `dec` (sealed or stamped) to PDF bytes.
    pub fn render(&self, dec: &Dec, options: &RenderOptions) -> Result<Vec<u8>, PdfError> {
        let (doc, in_repertoire) = self.compose(dec, options, Fonts::Common)?;
        if in_repertoire {
            return Ok(save(&doc, Some([&self.regular, &self.bold])));
        }
        let (doc, _) = self.compose(dec, options, Fonts::Whole)?;
        Ok(save(&doc, None))
    }

    /// Lays the document out with `fonts`; says whether all its text is in the repertoire.
    fn compose(&self, dec: &Dec, options: &RenderOptions, fonts: Fonts) -> Result<(PdfDocument, bool), PdfError> {
        let (regular_font, bold_font) = match fonts {
            Fonts::Common => (&self.regular.common, &self.bold.common),
            Fonts::Whole => (&self.regular.whole, &self.bold.whole),
        };
        let mut doc = PdfDocument::new(title(dec));
        let mut l = Layout {
            regular_font,
            bold_font,
            regular: doc.add_font(regular_font),
            bold: doc.add_font(bold_font),
            pages: Vec::new(),
            y: PAGE_H - MARGIN,
            font_state: None,
            beside_qr: None,
        };
        l.new_page();
        // With a logo, the header is centred in the space to its right.
        let header_left = if options.logo.is_some() { MARGIN + LOGO_W + 3.0 } else { MARGIN };
        if let Some(logo) = &options.logo {
            let (w, h) = (logo.image.width as f32, logo.image.height as f32);
            // Dots per inch that make the image fit the logo box.
            let dpi = (h * 25.4 / LOGO_H).max(w * 25.4 / LOGO_W);
            let id = doc.add_image(&logo.image);
            l.ops().push(Op::UseXobject {
                id,
                transform: printpdf::XObjectTransform {
                    translate_x: Some(Mm(MARGIN).into()),
                    translate_y: Some(Mm(PAGE_H - MARGIN - h * 25.4 / dpi).into()),
                    dpi: Some(dpi),
                    ..Default::default()
                },
            });
        }

        // Header: institution, campus, RVOE.
        l.centered_from(header_left, &dec.ipes.nombre_institucion, 13.0, Face::Bold);
        l.centered_from(
            header_left,
            &format!("Campus {} · {}", dec.ipes.campus, dec.ipes.entidad_federativa),
            9.0,
            Face::Regular,
        );
        l.centered_from(
            header_left,
            &format!(
                "Reconocimiento de Validez Oficial de Estudios (RVOE) {} del {}",
                dec.rvoe.numero,
                long_date(&dec.rvoe.fecha_expedicion)
            ),
            9.0,
            Face::Regular,
        );
        if options.logo.is_some() {
            l.y = l.y.min(PAGE_H - MARGIN - LOGO_H);
        }
        l.y -= 4.0;
        l.centered(&title(dec).to_uppercase(), 15.0, Face::Bold);
        if !dec.folio_control.is_empty() {
            l.centered(&format!("Folio de control: {}", dec.folio_control), 8.0, Face::Regular);
        }
        l.y -= 3.0;

        l.field("Carrera", &format!("{} (clave {})", dec.carrera.nombre_carrera, dec.carrera.clave_carrera), 9.0);
        l.field(
            "Plan de estudios",
            &format!(
                "{} · {} · Periodo: {}",
                dec.carrera.clave_plan, dec.carrera.nivel_estudios, dec.carrera.tipo_periodo
            ),
            9.0,
        );
        l.field(
            "Escala de calificaciones",
            &format!(
                "{} a {}, mínima aprobatoria {}",
                dec.carrera.calificacion_minima,
                dec.carrera.calificacion_maxima,
                dec.carrera.calificacion_minima_aprobatoria
            ),
            9.0,
        );
        l.y -= 2.0;
        let student = full_name(&dec.alumno.nombre, &dec.alumno.primer_apellido, &dec.alumno.segundo_apellido);
        l.field("Alumno(a)", &student, 10.0);
        l.field("CURP", &dec.alumno.curp, 9.0);
        l.field("Matrícula", &dec.alumno.numero_control, 9.0);
        l.y -= 3.0;

        // Subjects.
        l.table_header();
        for a in &dec.asignatura {
            let obs = a
                .id_observaciones
                .parse()
                .ok()
                .and_then(crate::catalogs::Observacion::from_code)
                .map(|o| o.abbreviation())
                .unwrap_or("");
            l.subject_row([&a.clave_asignatura, &a.nombre, &a.ciclo, &a.calificacion, obs, &a.creditos]);
        }
        l.y -= 2.0;
        l.field(
            "Totales",
            &format!(
                "{} de {} asignaturas · Promedio general {} · Créditos obtenidos {} de {} · {} ciclos",
                dec.asignaturas.asignadas,
                dec.asignaturas.total,
                dec.asignaturas.promedio,
                dec.asignaturas.creditos_obtenidos,
                dec.asignaturas.total_creditos,
                dec.asignaturas.numero_ciclos
            ),
            9.0,
        );
        l.field(
            "Expedido en",
            &format!("{}, el {}", dec.expedicion.lugar_expedicion, long_date(&dec.expedicion.fecha)),
            9.0,
        );

        // Signature block, seals and QR: kept together.
        let url = verification_url(dec, &options.verify_base_url);
        l.ensure(95.0);
        l.y -= 3.0;
        // The QR code at the top right of the block; the block's text wraps beside it.
        let qr_top = l.y + 1.0;
        let qr = qr_ops(&url, PAGE_W - MARGIN - QR_SIZE, qr_top, QR_SIZE)?;
        l.ops().extend(qr);
        l.beside_qr = Some(qr_top - QR_SIZE);
        let responsable =
            full_name(&dec.responsable.nombre, &dec.responsable.primer_apellido, &dec.responsable.segundo_apellido);
        l.field("Firma electrónica de", &format!("{responsable}, {}", dec.responsable.cargo), 9.0);
        l.field("No. de certificado del responsable", &dec.no_certificado_responsable, 8.0);
        l.field("Sello del responsable", "", 8.0);
        l.paragraph(&dec.sello, 6.5, Face::Regular);
        if let (Some(dreoe), Some(sep)) = (&dec.dreoe, &dec.sep_ipes) {
            l.y -= 1.5;
            l.field("Folio digital", &sep.folio_digital, 9.0);
            l.field("Fecha de autenticación", &sep.fecha_sep_ipes.replace('T', " "), 8.0);
            l.field("Autenticó", &format!("{} · {}", dreoe.nombre_completo, dreoe.cargo), 8.0);
            l.field("No. de certificado de la autoridad", &sep.no_certificado_sep_ipes, 8.0);
            l.field("Sello de la autoridad", "", 8.0);
            l.paragraph(&sep.sello_sep_ipes, 6.5, Face::Regular);
        } else if options.variant != Variant::Preview {
            l.y -= 1.5;
            l.paragraph(
                "Documento sellado por la institución, pendiente de autenticación por la autoridad.",
                8.0,
                Face::Bold,
            );
        }
        l.y -= 2.0;
        l.paragraph(
            "Este documento es la representación impresa de un certificado electrónico de estudios sellado con la \
             e.firma del responsable de la institución. Verifique su validez en:",
            7.5,
            Face::Regular,
        );
        l.paragraph(&url, 7.5, Face::Bold);
        l.beside_qr = None;

        // Marks and footers on every page.
        let total = l.pages.len();
        let mut pages = Vec::with_capacity(total);
        let marks = watermark(&mut doc, options.variant);
        let (regular_id, bold_id) = (l.regular.clone(), l.bold.clone());
        // A plain banner at the top of each page besides the large mark, so the
        // state reads in any viewer and in extracted text.
        let banner = marks.as_ref().map(|(_, text, color)| {
            let text = match options.variant {
                Variant::Cancelled => "CERTIFICADO CANCELADO — SIN VALIDEZ",
                _ => *text,
            };
            (text, (PAGE_W - l.width(text, 10.0, Face::Bold)) / 2.0, color.clone())
        });
        // The large mark: sized to span the page diagonally, centred.
        let mark_geometry = marks.as_ref().map(|(_, text, _)| {
            let angle: f32 = 50.0;
            let size = (220.0 / l.width(text, 1.0, Face::Bold)).min(110.0);
            let w = l.width(text, size, Face::Bold);
            let (c, s) = (angle.to_radians().cos(), angle.to_radians().sin());
            (size, (PAGE_W - w * c) / 2.0 + size * 0.35 * 0.3528 * s, (PAGE_H - w * s) / 2.0, angle)
        });
        for (i, mut ops) in std::mem::take(&mut l.pages).into_iter().enumerate() {
            let footer = format!("{} · {} · Página {} de {}", title(dec), dec.alumno.numero_control, i + 1, total);
            ops.extend([
                Op::StartTextSection,
                Op::SetFont { font: PdfFontHandle::External(regular_id.clone()), size: Pt(7.0) },
                Op::SetTextCursor { pos: Point::new(Mm(MARGIN), Mm(FOOTER_Y)) },
                Op::ShowText { items: vec![TextItem::Text(footer)] },
                Op::EndTextSection,
            ]);
            if let Some((text, x, color)) = &banner {
                ops.extend([
                    Op::SetFillColor { col: color.clone() },
                    Op::StartTextSection,
                    Op::SetFont { font: PdfFontHandle::External(bold_id.clone()), size: Pt(10.0) },
                    Op::SetTextCursor { pos: Point::new(Mm(*x), Mm(PAGE_H - 8.0)) },
                    Op::ShowText { items: vec![TextItem::Text(text.to_string())] },
                    Op::EndTextSection,
                ]);
            }
            if let (Some((gs, text, color)), Some((size, x, y, angle))) = (&marks, mark_geometry) {
                ops.extend([
                    Op::SaveGraphicsState,
                    Op::LoadGraphicsState { gs: gs.clone() },
                    Op::SetFillColor { col: color.clone() },
                    Op::StartTextSection,
                    Op::SetFont { font: PdfFontHandle::External(bold_id.clone()), size: Pt(size) },
                    Op::SetTextMatrix { matrix: TextMatrix::TranslateRotate(Mm(x).into(), Mm(y).into(), angle) },
                    Op::ShowText { items: vec![TextItem::Text(text.to_string())] },
                    Op::EndTextSection,
                    Op::RestoreGraphicsState,
                ]);
            }
            pages.push(PdfPage::new(Mm(PAGE_W), Mm(PAGE_H), ops));
        }
        let all_in_repertoire = pages.iter().flat_map(|page| &page.ops).all(|op| match op {
            Op::ShowText { items } => items.iter().all(|item| match item {
                TextItem::Text(text) => text.chars().all(in_repertoire),
                _ => true,
            }),
            _ => true,
        });
        doc.with_pages(pages);
        Ok((doc, all_in_repertoire))
    }
}
