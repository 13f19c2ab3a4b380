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

use crate::document::{Dec, parse_date_time};
use crate::model::full_name;
use flate2::{Compression, write::ZlibEncoder};
use printpdf::{
    Color, CurTransMat, ExtendedGraphicsState, Line, LinePoint, Mm, Op, PaintMode, ParsedFont, PdfDocument,
    PdfFontHandle, PdfPage, PdfSaveOptions, Point, Polygon, PolygonRing, Pt, Rgb, TextItem, TextMatrix, WindingOrder,
};

const REGULAR_TTF: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSansCondensed.ttf");
const BOLD_TTF: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSansCondensed-Bold.ttf");

/// The characters the once-per-process font subsets cover: Latin-1 (every
/// Spanish letter and sign) and the punctuation of the legends and of typed text.
const REPERTOIRE: [(char, char); 6] = [(' ', '~'), ('\u{a0}', 'ÿ'), ('–', '—'), ('‘', '’'), ('“', '”'), ('…', '…')];

fn in_repertoire(c: char) -> bool {
    REPERTOIRE.iter().any(|&(first, last)| (first..=last).contains(&c))
}

const PAGE_W: f32 = 210.0;
const PAGE_H: f32 = 297.0;
const MARGIN: f32 = 15.0;
const FOOTER_Y: f32 = 10.0;
/// The QR code's side (mm) and the gap kept between it and the text beside it.
const QR_SIZE: f32 = 32.0;
const QR_GAP: f32 = 4.0;
/// Column x positions (mm) and widths of the subjects table.
const COLS: [(f32, f32, &str); 6] = [
    (MARGIN, 20.0, "Clave"),
    (MARGIN + 20.0, 92.0, "Asignatura"),
    (MARGIN + 112.0, 20.0, "Ciclo"),
    (MARGIN + 132.0, 15.0, "Calif."),
    (MARGIN + 147.0, 15.0, "Obs."),
    (MARGIN + 162.0, 18.0, "Créditos"),
];

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

/// One face of the font: whole, for documents with characters outside the
/// repertoire, and subset to the repertoire with its font program compressed.
struct Typeface {
    whole: ParsedFont,
    common: ParsedFont,
    /// The subset's font program (what printpdf embeds) and the same compressed.
    program: Vec<u8>,
    compressed: Vec<u8>,
}

impl Typeface {
    /// `tag`: the six capital letters that name a subset (ISO 32000-1, 9.6.4).
    fn new(ttf: &[u8], tag: &str) -> Result<Self, PdfError> {
        let mut warnings = Vec::new();
        let whole = ParsedFont::from_bytes(ttf, 0, &mut warnings).ok_or(PdfError::Font)?;
        let glyphs: std::collections::BTreeMap<u16, String> = REPERTOIRE
            .iter()
            .flat_map(|&(first, last)| first..=last)
            .filter_map(|c| whole.lookup_glyph_index(c as u32).map(|g| (g, c.to_string())))
            .collect();
        let subset = printpdf::font::subset_font(&whole, &glyphs).map_err(|_| PdfError::Font)?;
        let mut common = ParsedFont::from_bytes(&subset.bytes, 0, &mut warnings).ok_or(PdfError::Font)?;
        common.font_name = whole.font_name.as_ref().map(|name| format!("{tag}+{name}"));
        // Once per process, so the smallest stream is worth the time.
        let compressed = deflate(&subset.bytes, Compression::best()).ok_or(PdfError::Font)?;
        Ok(Typeface { whole, common, program: subset.bytes, compressed })
    }
}

/// Which fonts a document is composed with.
#[derive(Clone, Copy)]
enum Fonts {
    /// The repertoire subsets, embedded as prepared.
    Common,
    /// The whole fonts, subset for this document.
    Whole,
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

#[derive(Clone, Copy, PartialEq)]
enum Face {
    Regular,
    Bold,
}

/// Ops for the pages, with a cursor that moves down.
struct Layout<'r> {
    regular_font: &'r ParsedFont,
    bold_font: &'r ParsedFont,
    regular: printpdf::FontId,
    bold: printpdf::FontId,
    pages: Vec<Vec<Op>>,
    y: f32,
    /// The page's current font and size: a font set once holds for the later
    /// text of the page, so it is set only when it changes.
    font_state: Option<(Face, f32)>,
    /// The bottom (mm) of the QR code on this page: lines that start above it
    /// stop short of it.
    beside_qr: Option<f32>,
}

impl<'r> Layout<'r> {
    fn ops(&mut self) -> &mut Vec<Op> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = PAGE_H - MARGIN;
        self.font_state = None;
        self.beside_qr = None;
    }

    /// The width (mm) available to the next line at the cursor.
    fn line_width(&self) -> f32 {
        let full = PAGE_W - 2.0 * MARGIN;
        match self.beside_qr {
            Some(bottom) if self.y > bottom => full - QR_SIZE - QR_GAP,
            _ => full,
        }
    }

    /// Starts a new page when fewer than `needed` mm remain.
    fn ensure(&mut self, needed: f32) -> bool {
        if self.y - needed < MARGIN + 8.0 {
            self.new_page();
            true
        } else {
            false
        }
    }

    fn font(&self, face: Face) -> (&ParsedFont, printpdf::FontId) {
        match face {
            Face::Regular => (self.regular_font, self.regular.clone()),
            Face::Bold => (self.bold_font, self.bold.clone()),
        }
    }

    /// Width of one character in mm at `size` pt.
    fn char_width(&self, c: char, size: f32, face: Face) -> f32 {
        let (font, _) = self.font(face);
        let upem = f32::from(font.font_metrics.units_per_em.max(1));
        let units =
            font.lookup_glyph_index(c as u32).map(|g| f32::from(font.get_horizontal_advance(g))).unwrap_or(upem * 0.5);
        units / upem * size * 25.4 / 72.0
    }

    /// Width of `text` in mm at `size` pt.
    fn width(&self, text: &str, size: f32, face: Face) -> f32 {
        text.chars().map(|c| self.char_width(c, size, face)).sum()
    }

    fn text_at(&mut self, x: f32, y: f32, text: &str, size: f32, face: Face) {
        self.ops().push(Op::StartTextSection);
        if self.font_state != Some((face, size)) {
            let (_, id) = self.font(face);
            self.ops().push(Op::SetFont { font: PdfFontHandle::External(id), size: Pt(size) });
            self.font_state = Some((face, size));
        }
        self.ops().extend([
            Op::SetTextCursor { pos: Point::new(Mm(x), Mm(y)) },
            Op::ShowText { items: vec![TextItem::Text(text.to_string())] },
            Op::EndTextSection,
        ]);
    }

    /// Splits `text` into lines no wider than `width` mm (breaking long words).
    /// Widths are accumulated, so each character is measured once.
    fn wrap(&self, text: &str, width: f32, size: f32, face: Face) -> Vec<String> {
        let space = self.char_width(' ', size, face);
        let mut lines = Vec::new();
        let (mut line, mut line_w) = (String::new(), 0.0);
        for word in text.split_whitespace() {
            let word_w = self.width(word, size, face);
            let joined_w = if line.is_empty() { word_w } else { line_w + space + word_w };
            if joined_w <= width {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(word);
                line_w = joined_w;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            if word_w <= width {
                line.push_str(word);
                line_w = word_w;
                continue;
            }
            // A word wider than the line (a Base64 sello) is cut by characters.
            line_w = 0.0;
            for c in word.chars() {
                let w = self.char_width(c, size, face);
                if line_w + w > width && !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                    line_w = 0.0;
                }
                line.push(c);
                line_w += w;
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
        lines
    }

    /// A wrapped paragraph at the cursor.
    fn paragraph(&mut self, text: &str, size: f32, face: Face) {
        let lh = size * 0.42;
        for l in self.wrap(text, self.line_width(), size, face) {
            self.ensure(lh);
            self.y -= lh;
            self.text_at(MARGIN, self.y, &l, size, face);
        }
    }

    /// "Label: value" on one line at the cursor.
    fn field(&mut self, label: &str, value: &str, size: f32) {
        let lh = size * 0.45;
        self.ensure(lh);
        self.y -= lh;
        let label = format!("{label}: ");
        let w = self.width(&label, size, Face::Bold);
        self.text_at(MARGIN, self.y, &label, size, Face::Bold);
        let rest = self.wrap(value, self.line_width() - w, size, Face::Regular);
        for (i, l) in rest.iter().enumerate() {
            if i > 0 {
                self.ensure(lh);
                self.y -= lh;
            }
            self.text_at(MARGIN + w, self.y, l, size, Face::Regular);
        }
    }

    /// Centred lines between `left` and the right margin, wrapped to fit.
    fn centered_from(&mut self, left: f32, text: &str, size: f32, face: Face) {
        let lh = size * 0.5;
        let available = PAGE_W - MARGIN - left;
        for line in self.wrap(text, available, size, face) {
            self.ensure(lh);
            self.y -= lh;
            let w = self.width(&line, size, face);
            self.text_at(left + (available - w) / 2.0, self.y, &line, size, face);
        }
    }

    fn centered(&mut self, text: &str, size: f32, face: Face) {
        self.centered_from(MARGIN, text, size, face);
    }

    fn rule(&mut self, x1: f32, x2: f32, y: f32) {
        self.ops().push(Op::DrawLine {
            line: Line {
                points: vec![
                    LinePoint { p: Point::new(Mm(x1), Mm(y)), bezier: false },
                    LinePoint { p: Point::new(Mm(x2), Mm(y)), bezier: false },
                ],
                is_closed: false,
            },
        });
    }

    fn table_header(&mut self) {
        let h = 6.0;
        self.y -= h;
        let y = self.y;
        self.ops().push(Op::SetFillColor { col: gray(0.88) });
        self.ops().push(rect(MARGIN, y, PAGE_W - 2.0 * MARGIN, h));
        self.ops().push(Op::SetFillColor { col: gray(0.0) });
        for (x, _, label) in COLS {
            self.text_at(x + 1.0, y + 1.8, label, 8.0, Face::Bold);
        }
        self.rule(MARGIN, PAGE_W - MARGIN, y);
    }

    fn subject_row(&mut self, cells: [&str; 6]) {
        let size = 8.0;
        let lh = 3.6;
        let name_lines = self.wrap(cells[1], COLS[1].1 - 2.0, size, Face::Regular);
        let h = lh * name_lines.len().max(1) as f32 + 1.6;
        if self.ensure(h) {
            self.table_header();
        }
        let top = self.y;
        for (i, (x, w, _)) in COLS.iter().enumerate() {
            if i == 1 {
                for (n, l) in name_lines.iter().enumerate() {
                    self.text_at(x + 1.0, top - lh * (n as f32 + 1.0), l, size, Face::Regular);
                }
            } else {
                let text = self.wrap(cells[i], w - 2.0, size, Face::Regular).into_iter().next().unwrap_or_default();
                self.text_at(x + 1.0, top - lh, &text, size, Face::Regular);
            }
        }
        self.y -= h;
        self.ops().push(Op::SetOutlineColor { col: gray(0.75) });
        self.rule(MARGIN, PAGE_W - MARGIN, self.y);
        self.ops().push(Op::SetOutlineColor { col: gray(0.0) });
    }
}

fn gray(v: f32) -> Color {
    Color::Rgb(Rgb { r: v, g: v, b: v, icc_profile: None })
}

fn rect(x: f32, y: f32, w: f32, h: f32) -> Op {
    let p = |x: f32, y: f32| LinePoint { p: Point::new(Mm(x), Mm(y)), bezier: false };
    Op::DrawPolygon {
        polygon: Polygon {
            rings: vec![PolygonRing { points: vec![p(x, y), p(x + w, y), p(x + w, y + h), p(x, y + h)] }],
            mode: PaintMode::Fill,
            winding_order: WindingOrder::NonZero,
        },
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

/// Zlib-compresses `data`.
fn deflate(data: &[u8], level: Compression) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut encoder = ZlibEncoder::new(Vec::with_capacity(data.len() / 2), level);
    encoder.write_all(data).ok()?;
    encoder.finish().ok()
}

/// Serialises like `PdfDocument::save`, but compresses streams at flate level
/// 1 instead of lopdf's level 9 (measured, level 9 took ~40% of the time of a
/// certificate's PDF for a file only slightly smaller), and embeds the
/// prepared `typefaces`' font programs already compressed; without them the
/// document's fonts are subset for it.
fn save(doc: &PdfDocument, typefaces: Option<[&Typeface; 2]>) -> Vec<u8> {
    let mut warnings = Vec::new();
    let options = PdfSaveOptions { subset_fonts: typefaces.is_none(), ..PdfSaveOptions::default() };
    let mut lo = printpdf::serialize::to_lopdf_doc(doc, &options, &mut warnings);
    for object in lo.objects.values_mut() {
        let lopdf::Object::Stream(stream) = object else { continue };
        if !stream.allows_compression || stream.dict.get(b"Filter").is_ok() {
            continue;
        }
        let prepared = typefaces.iter().flatten().find(|face| face.program == stream.content);
        let compressed = match prepared {
            Some(face) => Some(face.compressed.clone()),
            None => deflate(&stream.content, Compression::fast()),
        };
        if let Some(compressed) = compressed
            && compressed.len() + 19 < stream.content.len()
        {
            stream.dict.set("Filter", "FlateDecode");
            stream.set_content(compressed);
        }
    }
    let mut out = Vec::with_capacity(64 * 1024);
    // Writing into a Vec cannot fail.
    let _ = lo.save_to(&mut out);
    out
}

/// The large, rotated, semi-transparent mark of a variant.
fn watermark(
    doc: &mut PdfDocument,
    variant: Variant,
) -> Option<(printpdf::ExtendedGraphicsStateId, &'static str, Color)> {
    let (text, color) = match variant {
        Variant::Normal => return None,
        Variant::Cancelled => ("CANCELADO", Color::Rgb(Rgb { r: 0.8, g: 0.0, b: 0.0, icc_profile: None })),
        Variant::Preview => ("VISTA PREVIA — SIN VALIDEZ OFICIAL", gray(0.45)),
    };
    let mut gs = ExtendedGraphicsState::default();
    gs.set_current_fill_alpha(0.35);
    Some((doc.add_graphics_state(gs), text, color))
}

/// A QR code of `data` as filled squares, top-left corner at (x, top), `size` mm wide.
/// Drawn in a coordinate system of one unit per module, so each run of dark
/// modules is a rectangle of four small integers.
fn qr_ops(data: &str, x: f32, top: f32, size: f32) -> Result<Vec<Op>, PdfError> {
    let code = fast_qr::QRBuilder::new(data).ecl(fast_qr::ECL::M).build().map_err(|e| PdfError::Qr(e.to_string()))?;
    let n = code.size;
    let quiet = 2usize;
    let module = Pt::from(Mm(size / (n + 2 * quiet) as f32)).0;
    let (left, bottom) = (Pt::from(Mm(x)).0, Pt::from(Mm(top - size)).0);
    let mut ops = vec![
        Op::SaveGraphicsState,
        Op::SetTransformationMatrix {
            matrix: CurTransMat::Raw([
                module,
                0.0,
                0.0,
                module,
                left + module * quiet as f32,
                bottom + module * quiet as f32,
            ]),
        },
        Op::SetFillColor { col: gray(0.0) },
    ];
    for row in 0..n {
        let dark = &code[row];
        // Module rows count down from the top; PDF's y axis goes up.
        let y = (n - 1 - row) as f32;
        // One rectangle per horizontal run of dark modules.
        let mut col = 0;
        while col < n {
            if dark[col].value() {
                let start = col;
                while col < n && dark[col].value() {
                    col += 1;
                }
                ops.push(Op::DrawRectangle {
                    rectangle: printpdf::Rect {
                        x: Pt(start as f32),
                        y: Pt(y),
                        width: Pt((col - start) as f32),
                        height: Pt(1.0),
                        mode: Some(PaintMode::Fill),
                        winding_order: Some(WindingOrder::NonZero),
                    },
                });
            } else {
                col += 1;
            }
        }
    }
    ops.push(Op::RestoreGraphicsState);
    Ok(ops)
}
