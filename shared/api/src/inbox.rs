//! What an upload to the inbox is: a sealed Dec XML (signed offline), an
//! authority-returned stamped XML, or a zip of them (with an optional
//! results sheet). Read defensively — no entity expansion (the strict Dec
//! reader refuses DOCTYPE), bounded sizes, entry counts and uncompressed
//! totals, no nested archives, no path tricks — so any bytes give a
//! classification or a reason, never a panic.

use certifica_core::document::{Dec, DocumentError};
use std::io::Read;

/// Largest upload (one XML or one zip).
pub const MAX_UPLOAD_BYTES: usize = 20 * 1024 * 1024;
/// Largest single document, inside a zip or alone.
pub const MAX_XML_BYTES: usize = 2 * 1024 * 1024;
/// Entries per zip.
pub const MAX_ZIP_ENTRIES: usize = 500;
/// Uncompressed bytes of a whole zip (a zip bomb stops here).
pub const MAX_UNCOMPRESSED_BYTES: u64 = 100 * 1024 * 1024;

/// One certificate document found in an upload.
#[derive(Debug, Clone)]
pub struct Found {
    /// Where it came from (the file, or `zip/entry.xml`).
    pub name: String,
    pub xml: String,
    pub dec: Dec,
}

impl Found {
    /// Returned by the authority (carries `Dreoe` and `SepIpes`).
    pub fn is_stamped(&self) -> bool {
        self.dec.dreoe.is_some() || self.dec.sep_ipes.is_some()
    }
}

/// What an upload held: documents, and per-entry refusals inside a zip.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    pub documents: Vec<Found>,
    /// Entries of a zip that were not usable, with why.
    pub refused: Vec<(String, Rejection)>,
    /// The optional results sheet of an authority zip (CSV text).
    pub results_sheet: Option<String>,
}

/// Why an upload (or one entry of it) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("el archivo «{0}» no es XML ni ZIP; suba el XML sellado o el ZIP que devolvió la autoridad")]
    UnknownKind(String),
    #[error("el archivo mide {0} bytes; el máximo es {max}: súbalo en varios ZIP más pequeños", max = MAX_UPLOAD_BYTES)]
    TooLarge(u64),
    #[error("el XML mide {0} bytes; el máximo es {max}", max = MAX_XML_BYTES)]
    XmlTooLarge(u64),
    #[error("el XML no está en UTF-8")]
    NotUtf8,
    #[error("{0}")]
    Document(DocumentError),
    #[error("el ZIP no se puede leer: {0}")]
    BadZip(String),
    #[error("el ZIP tiene {0} entradas; el máximo es {max}", max = MAX_ZIP_ENTRIES)]
    TooManyEntries(usize),
    #[error("el ZIP se expande a más de {max} bytes; súbalo en partes", max = MAX_UNCOMPRESSED_BYTES)]
    ZipBomb,
    #[error("la entrada «{0}» tiene una ruta no permitida (absoluta o con «..»)")]
    UnsafePath(String),
    #[error("la entrada «{0}» es otro archivo comprimido; no se admiten ZIP dentro de ZIP")]
    Nested(String),
    #[error("el ZIP no contiene documentos XML")]
    EmptyZip,
}

impl Rejection {
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::UnknownKind(_) => "tipo_de_archivo",
            Rejection::TooLarge(_) | Rejection::XmlTooLarge(_) => "archivo_demasiado_grande",
            Rejection::NotUtf8 => "codificacion_invalida",
            Rejection::Document(e) => e.code(),
            Rejection::BadZip(_) => "zip_invalido",
            Rejection::TooManyEntries(_) => "zip_demasiadas_entradas",
            Rejection::ZipBomb => "zip_demasiado_grande",
            Rejection::UnsafePath(_) => "ruta_no_permitida",
            Rejection::Nested(_) => "zip_anidado",
            Rejection::EmptyZip => "zip_vacio",
        }
    }
}

fn looks_like_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

fn looks_like_xml(bytes: &[u8]) -> bool {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
}

fn document(name: &str, bytes: &[u8]) -> Result<Found, Rejection> {
    if bytes.len() > MAX_XML_BYTES {
        return Err(Rejection::XmlTooLarge(bytes.len() as u64));
    }
    let xml = std::str::from_utf8(bytes).map_err(|_| Rejection::NotUtf8)?;
    let dec = Dec::parse(xml).map_err(Rejection::Document)?;
    Ok(Found { name: name.to_string(), xml: xml.to_string(), dec })
}

/// Classifies the bytes uploaded as `name`.
pub fn read(name: &str, bytes: &[u8]) -> Result<Upload, Rejection> {
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(Rejection::TooLarge(bytes.len() as u64));
    }
    if looks_like_zip(bytes) {
        return read_zip(name, bytes);
    }
    if looks_like_xml(bytes) {
        return Ok(Upload { documents: vec![document(name, bytes)?], ..Upload::default() });
    }
    Err(Rejection::UnknownKind(name.to_string()))
}

fn read_zip(name: &str, bytes: &[u8]) -> Result<Upload, Rejection> {
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| Rejection::BadZip(e.to_string()))?;
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(Rejection::TooManyEntries(archive.len()));
    }
    let mut upload = Upload::default();
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| Rejection::BadZip(e.to_string()))?;
        let raw_name = entry.name().map(|n| n.into_owned()).unwrap_or_else(|_| format!("entrada {i}"));
        if entry.is_dir() {
            continue;
        }
        let Some(path) = entry.enclosed_name() else {
            upload.refused.push((raw_name.clone(), Rejection::UnsafePath(raw_name)));
            continue;
        };
        let entry_name = format!("{name}/{}", path.display());
        let lower = raw_name.to_ascii_lowercase();
        // Read at most one byte past the limit: declared sizes can lie.
        let mut data = Vec::new();
        let limit = MAX_XML_BYTES as u64 + 1;
        (&mut entry).take(limit).read_to_end(&mut data).map_err(|e| Rejection::BadZip(e.to_string()))?;
        total += data.len() as u64;
        if total > MAX_UNCOMPRESSED_BYTES {
            return Err(Rejection::ZipBomb);
        }
        if lower.ends_with(".zip") || looks_like_zip(&data) {
            upload.refused.push((entry_name, Rejection::Nested(raw_name)));
        } else if lower.ends_with(".csv") {
            match String::from_utf8(data) {
                Ok(text) if text.len() <= MAX_XML_BYTES => upload.results_sheet = Some(text),
                Ok(_) => upload.refused.push((entry_name, Rejection::XmlTooLarge(limit))),
                Err(_) => upload.refused.push((entry_name, Rejection::NotUtf8)),
            }
        } else if lower.ends_with(".xml") || looks_like_xml(&data) {
            match document(&entry_name, &data) {
                Ok(found) => upload.documents.push(found),
                Err(e) => upload.refused.push((entry_name, e)),
            }
        } else {
            upload.refused.push((entry_name.clone(), Rejection::UnknownKind(entry_name)));
        }
    }
    if upload.documents.is_empty() && upload.refused.is_empty() {
        return Err(Rejection::EmptyZip);
    }
    Ok(upload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            // The writer refuses duplicate names; generated ones may repeat.
            if zip.start_file(*name, options).is_ok() {
                zip.write_all(data).unwrap();
            }
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn other_kinds_and_doctypes_are_refused() {
        assert_eq!(read("foto.png", b"\x89PNG....").unwrap_err().code(), "tipo_de_archivo");
        let entity = b"<?xml version=\"1.0\"?><!DOCTYPE Dec [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><Dec>&x;</Dec>";
        assert_eq!(read("ataque.xml", entity).unwrap_err(), Rejection::Document(DocumentError::DoctypeForbidden));
        assert_eq!(
            read("grande.xml", &vec![b' '; MAX_UPLOAD_BYTES + 1]).unwrap_err().code(),
            "archivo_demasiado_grande"
        );
    }

    #[test]
    fn zip_entries_are_checked_one_by_one() {
        let bytes = zip_of(&[
            ("../../etc/passwd.xml", b"<Dec/>"),
            ("dentro.zip", b"PK\x03\x04"),
            ("notas.txt", b"hola"),
            ("resultados.csv", b"folioControl,estado\n"),
            ("roto.xml", b"<Dec"),
        ]);
        let upload = read("lote.zip", &bytes).unwrap();
        let codes: Vec<&str> = upload.refused.iter().map(|(_, r)| r.code()).collect();
        assert_eq!(codes, ["ruta_no_permitida", "zip_anidado", "tipo_de_archivo", "xml_mal_formado"]);
        assert_eq!(upload.results_sheet.as_deref(), Some("folioControl,estado\n"));
        assert!(upload.documents.is_empty());
    }

    #[test]
    fn a_zip_bomb_stops_at_the_limits() {
        // Many entries each expanding to the per-document limit.
        let big = vec![b'<'; MAX_XML_BYTES + 10];
        let names: Vec<String> = (0..60).map(|i| format!("d{i}.xml")).collect();
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), big.as_slice())).collect();
        let bytes = zip_of(&entries);
        assert!(bytes.len() < MAX_UPLOAD_BYTES, "compressed small");
        assert_eq!(read("bomba.zip", &bytes).unwrap_err(), Rejection::ZipBomb);
        let too_many: Vec<String> = (0..=MAX_ZIP_ENTRIES).map(|i| format!("{i}.xml")).collect();
        let entries: Vec<(&str, &[u8])> = too_many.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
        assert_eq!(read("muchos.zip", &zip_of(&entries)).unwrap_err().code(), "zip_demasiadas_entradas");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Arbitrary bytes never panic the reader (run longer with PROPTEST_CASES=1000000).
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096), zip_header in any::<bool>()) {
            let mut data = bytes;
            if zip_header { data.splice(0..0, b"PK\x03\x04".iter().copied()); }
            let _ = read("x", &data);
        }

        #[test]
        fn arbitrary_zip_entries_never_panic(entries in proptest::collection::vec(("[a-z./]{1,12}", proptest::collection::vec(any::<u8>(), 0..256)), 0..6)) {
            let refs: Vec<(&str, &[u8])> = entries.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
            let _ = read("x.zip", &zip_of(&refs));
        }
    }
}
