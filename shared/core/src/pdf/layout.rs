//! Laying text out on A4 pages: a cursor that moves down, wrapping,
//! centring, the subjects table, rules, and the variants' watermark.

use super::Variant;
use super::qr::{QR_GAP, QR_SIZE};
use printpdf::{
    Color, ExtendedGraphicsState, Line, LinePoint, Mm, Op, PaintMode, ParsedFont, PdfDocument, PdfFontHandle, Point,
    Polygon, PolygonRing, Pt, Rgb, TextItem, WindingOrder,
};

pub(super) const PAGE_W: f32 = 210.0;

pub(super) const PAGE_H: f32 = 297.0;

pub(super) const MARGIN: f32 = 15.0;

pub(super) const FOOTER_Y: f32 = 10.0;

/// Column x positions (mm) and widths of the subjects table.
pub(super) const COLS: [(f32, f32, &str); 6] = [
    (MARGIN, 20.0, "Clave"),
    (MARGIN + 20.0, 92.0, "Asignatura"),
    (MARGIN + 112.0, 20.0, "Ciclo"),
    (MARGIN + 132.0, 15.0, "Calif."),
    (MARGIN + 147.0, 15.0, "Obs."),
    (MARGIN + 162.0, 18.0, "Créditos"),
];

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Face {
    Regular,
    Bold,
}

/// Ops for the pages, with a cursor that moves down.
pub(super) struct Layout<'r> {
    pub(super) regular_font: &'r ParsedFont,
    pub(super) bold_font: &'r ParsedFont,
    pub(super) regular: printpdf::FontId,
    pub(super) bold: printpdf::FontId,
    pub(super) pages: Vec<Vec<Op>>,
    pub(super) y: f32,
    /// The page's current font and size: a font set once holds for the later
    /// text of the page, so it is set only when it changes.
    pub(super) font_state: Option<(Face, f32)>,
    /// The bottom (mm) of the QR code on this page: lines that start above it
    /// stop short of it.
    pub(super) beside_qr: Option<f32>,
}

impl<'r> Layout<'r> {
    pub(super) fn ops(&mut self) -> &mut Vec<Op> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    pub(super) fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = PAGE_H - MARGIN;
        self.font_state = None;
        self.beside_qr = None;
    }

    /// The width (mm) available to the next line at the cursor.
    pub(super) fn line_width(&self) -> f32 {
        let full = PAGE_W - 2.0 * MARGIN;
        match self.beside_qr {
            Some(bottom) if self.y > bottom => full - QR_SIZE - QR_GAP,
            _ => full,
        }
    }

    /// Starts a new page when fewer than `needed` mm remain.
    pub(super) fn ensure(&mut self, needed: f32) -> bool {
        if self.y - needed < MARGIN + 8.0 {
            self.new_page();
            true
        } else {
            false
        }
    }

    pub(super) fn font(&self, face: Face) -> (&ParsedFont, printpdf::FontId) {
        match face {
            Face::Regular => (self.regular_font, self.regular.clone()),
            Face::Bold => (self.bold_font, self.bold.clone()),
        }
    }

    /// Width of one character in mm at `size` pt.
    pub(super) fn char_width(&self, c: char, size: f32, face: Face) -> f32 {
        let (font, _) = self.font(face);
        let upem = f32::from(font.font_metrics.units_per_em.max(1));
        let units =
            font.lookup_glyph_index(c as u32).map(|g| f32::from(font.get_horizontal_advance(g))).unwrap_or(upem * 0.5);
        units / upem * size * 25.4 / 72.0
    }

    /// Width of `text` in mm at `size` pt.
    pub(super) fn width(&self, text: &str, size: f32, face: Face) -> f32 {
        text.chars().map(|c| self.char_width(c, size, face)).sum()
    }

    pub(super) fn text_at(&mut self, x: f32, y: f32, text: &str, size: f32, face: Face) {
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
    pub(super) fn wrap(&self, text: &str, width: f32, size: f32, face: Face) -> Vec<String> {
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
    pub(super) fn paragraph(&mut self, text: &str, size: f32, face: Face) {
        let lh = size * 0.42;
        for l in self.wrap(text, self.line_width(), size, face) {
            self.ensure(lh);
            self.y -= lh;
            self.text_at(MARGIN, self.y, &l, size, face);
        }
    }

    /// "Label: value" on one line at the cursor.
    pub(super) fn field(&mut self, label: &str, value: &str, size: f32) {
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
    pub(super) fn centered_from(&mut self, left: f32, text: &str, size: f32, face: Face) {
        let lh = size * 0.5;
        let available = PAGE_W - MARGIN - left;
        for line in self.wrap(text, available, size, face) {
            self.ensure(lh);
            self.y -= lh;
            let w = self.width(&line, size, face);
            self.text_at(left + (available - w) / 2.0, self.y, &line, size, face);
        }
    }

    pub(super) fn centered(&mut self, text: &str, size: f32, face: Face) {
        self.centered_from(MARGIN, text, size, face);
    }

    pub(super) fn rule(&mut self, x1: f32, x2: f32, y: f32) {
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

    pub(super) fn table_header(&mut self) {
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

    pub(super) fn subject_row(&mut self, cells: [&str; 6]) {
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

pub(super) fn gray(v: f32) -> Color {
    Color::Rgb(Rgb { r: v, g: v, b: v, icc_profile: None })
}

pub(super) fn rect(x: f32, y: f32, w: f32, h: f32) -> Op {
    let p = |x: f32, y: f32| LinePoint { p: Point::new(Mm(x), Mm(y)), bezier: false };
    Op::DrawPolygon {
        polygon: Polygon {
            rings: vec![PolygonRing { points: vec![p(x, y), p(x + w, y), p(x + w, y + h), p(x, y + h)] }],
            mode: PaintMode::Fill,
            winding_order: WindingOrder::NonZero,
        },
    }
}

/// The large, rotated, semi-transparent mark of a variant.
pub(super) fn watermark(
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
