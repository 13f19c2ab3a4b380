//! The embedded font (DejaVu Sans Condensed), subset once per process to
//! the repertoire and compressed once, and the PDF's serialisation with it.

use super::PdfError;
use flate2::Compression;
use flate2::write::ZlibEncoder;
use printpdf::{ParsedFont, PdfDocument, PdfSaveOptions};

pub(super) const REGULAR_TTF: &[u8] = include_bytes!("../../../../assets/fonts/DejaVuSansCondensed.ttf");

pub(super) const BOLD_TTF: &[u8] = include_bytes!("../../../../assets/fonts/DejaVuSansCondensed-Bold.ttf");

/// The characters the once-per-process font subsets cover: Latin-1 (every
/// Spanish letter and sign) and the punctuation of the legends and of typed text.
pub(super) const REPERTOIRE: [(char, char); 6] =
    [(' ', '~'), ('\u{a0}', 'ÿ'), ('–', '—'), ('‘', '’'), ('“', '”'), ('…', '…')];

pub(super) fn in_repertoire(c: char) -> bool {
    REPERTOIRE.iter().any(|&(first, last)| (first..=last).contains(&c))
}

/// One face of the font: whole, for documents with characters outside the
/// repertoire, and subset to the repertoire with its font program compressed.
pub(super) struct Typeface {
    pub(super) whole: ParsedFont,
    pub(super) common: ParsedFont,
    /// The subset's font program (what printpdf embeds) and the same compressed.
    pub(super) program: Vec<u8>,
    pub(super) compressed: Vec<u8>,
}

impl Typeface {
    /// `tag`: the six capital letters that name a subset (ISO 32000-1, 9.6.4).
    pub(super) fn new(ttf: &[u8], tag: &str) -> Result<Self, PdfError> {
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
pub(super) enum Fonts {
    /// The repertoire subsets, embedded as prepared.
    Common,
    /// The whole fonts, subset for this document.
    Whole,
}

/// Zlib-compresses `data`.
pub(super) fn deflate(data: &[u8], level: Compression) -> Option<Vec<u8>> {
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
pub(super) fn save(doc: &PdfDocument, typefaces: Option<[&Typeface; 2]>) -> Vec<u8> {
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
