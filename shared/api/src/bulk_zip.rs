//! Bulk zips (a cycle's certificates, the sealed or unsealed exports): the
//! documents and a CSV manifest, streamed to the artifact store's writer as
//! the zip is written, so memory holds one part of it — never the whole zip
//! of a 5,000-student cycle (the store groups the bytes into its parts, and
//! stores a small zip with one plain put).

use crate::problem::{Problem, json_response};
use crate::{Adapters, Api};
use bytes::Bytes;
use certifica_core::ports::{ArtifactKind, ArtifactStore, ArtifactWriter};
use certifica_core::records::Tenant;
use chrono::Utc;
use http::{Response, StatusCode};
use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Download links live this long.
pub(crate) const LINK_MINUTES: i64 = 5;

/// The zip writer's output not yet handed to the store.
#[derive(Clone, Default)]
struct Pending(Arc<Mutex<Vec<u8>>>);

impl Pending {
    /// Takes what is pending.
    fn take(&self) -> Vec<u8> {
        self.0.lock().map(|mut bytes| std::mem::take(&mut *bytes)).unwrap_or_default()
    }
}

impl Write for Pending {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut bytes = self.0.lock().map_err(|_| std::io::Error::other("zip buffer poisoned"))?;
        bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn zip_error(e: impl std::fmt::Display) -> Problem {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "zip_fallido", format!("no se pudo armar el zip: {e}"))
}

/// A zip being written to the store, with its manifest.
pub(crate) struct BulkZip<'a, X: Adapters> {
    api: &'a Api<X>,
    tenant: &'a Tenant,
    zip: zip::ZipWriter<zip::write::StreamWriter<Pending>>,
    pending: Pending,
    upload: <X::Artifacts as ArtifactStore>::Writer,
    manifest: csv::Writer<Vec<u8>>,
    rows: usize,
}

impl<'a, X: Adapters> BulkZip<'a, X> {
    pub(crate) async fn new(api: &'a Api<X>, tenant: &'a Tenant, columns: &[&str]) -> Result<Self, Problem> {
        Self::named(api, tenant, &format!("{}.zip", uuid::Uuid::new_v4()), columns).await
    }

    /// A zip stored as `name` (a cycle's zip is named by what it holds, so it is built once).
    pub(crate) async fn named(
        api: &'a Api<X>,
        tenant: &'a Tenant,
        name: &str,
        columns: &[&str],
    ) -> Result<Self, Problem> {
        let mut manifest = csv::Writer::from_writer(Vec::new());
        manifest.write_record(columns).map_err(zip_error)?;
        let upload = api.artifacts.writer(tenant, ArtifactKind::BulkZip, name, "application/zip").await?;
        let pending = Pending::default();
        Ok(BulkZip {
            api,
            tenant,
            zip: zip::ZipWriter::new_stream(pending.clone()),
            pending,
            upload,
            manifest,
            rows: 0,
        })
    }

    /// Adds one document. PDFs are stored as they are: their streams are
    /// already compressed, deflating them again costs time and saves ~1 %.
    pub(crate) async fn file(&mut self, name: String, bytes: &[u8]) -> Result<(), Problem> {
        let method =
            if name.ends_with(".pdf") { zip::CompressionMethod::Stored } else { zip::CompressionMethod::Deflated };
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        self.zip.start_file(name, options).map_err(zip_error)?;
        self.zip.write_all(bytes).map_err(zip_error)?;
        Ok(self.upload.write(self.pending.take()).await?)
    }

    pub(crate) fn row(&mut self, record: &[&str]) -> Result<(), Problem> {
        self.manifest.write_record(record.iter().map(|cell| formula_safe(cell).into_owned())).map_err(zip_error)?;
        self.rows += 1;
        Ok(())
    }

    /// Ends the zip: if `filled` failed, or nothing was added (`empty`
    /// says why that is an error), what was written is discarded;
    /// otherwise `manifiesto.csv` is added, the zip stored, and its link
    /// answered with `extra` fields.
    pub(crate) async fn conclude(
        self,
        filled: Result<(), Problem>,
        empty: impl FnOnce() -> Problem,
        extra: Value,
    ) -> Result<Response<Bytes>, Problem> {
        let (api, tenant) = (self.api, self.tenant);
        let (key, rows) = self.store(filled, empty).await?;
        link_answer(api, tenant, &key, rows, extra).await
    }

    /// Ends the zip as [`Self::conclude`] does, without a link: its key
    /// and the certificates it holds.
    pub(crate) async fn store(
        self,
        filled: Result<(), Problem>,
        empty: impl FnOnce() -> Problem,
    ) -> Result<(String, usize), Problem> {
        let problem = match filled {
            Err(p) => Some(p),
            Ok(()) if self.rows == 0 => Some(empty()),
            Ok(()) => None,
        };
        let BulkZip { mut zip, pending, mut upload, manifest, rows, .. } = self;
        if let Some(problem) = problem {
            upload.abort().await;
            return Err(problem);
        }
        let written = manifest.into_inner().map_err(zip_error).and_then(|m| {
            let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
            zip.start_file("manifiesto.csv", options).map_err(zip_error)?;
            zip.write_all(&m).map_err(zip_error)?;
            zip.finish().map_err(zip_error)
        });
        let last = match written {
            Ok(_) => upload.write(pending.take()).await.map_err(Problem::from),
            Err(p) => Err(p),
        };
        if let Err(p) = last {
            upload.abort().await;
            return Err(p);
        }
        let stored = upload.finish().await?;
        Ok((stored.key, rows))
    }
}

/// The answer for a stored zip of `rows` certificates: a short-lived link, with `extra` fields.
pub(crate) async fn link_answer<X: Adapters>(
    api: &Api<X>,
    tenant: &Tenant,
    key: &str,
    rows: usize,
    extra: Value,
) -> Result<Response<Bytes>, Problem> {
    let mut fields = json!({ "certificates": rows });
    if let (Some(fields), Value::Object(extra)) = (fields.as_object_mut(), extra) {
        fields.extend(extra);
    }
    Ok(json_response(StatusCode::OK, &link(api, tenant, key, fields).await?))
}

/// A short-lived link to `key` (`url`, `expiresAt`), with `extra` fields.
pub(crate) async fn link<X: Adapters>(
    api: &Api<X>,
    tenant: &Tenant,
    key: &str,
    extra: Value,
) -> Result<Value, Problem> {
    let url = api.artifacts.link(tenant, key, chrono::Duration::minutes(LINK_MINUTES)).await?;
    let mut link = json!({ "url": url, "expiresAt": Utc::now() + chrono::Duration::minutes(LINK_MINUTES) });
    if let (Some(link), Value::Object(extra)) = (link.as_object_mut(), extra) {
        link.extend(extra);
    }
    Ok(link)
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a
/// tab or carriage return first) is written after an apostrophe, read as text.
fn formula_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::formula_safe;

    #[test]
    fn manifest_cells_are_never_formulas() {
        for cell in ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\t=1"] {
            assert_eq!(formula_safe(cell), format!("'{cell}"));
        }
        for cell in ["A20001", "Ana Núñez", "2026-07-15", "", "1=1"] {
            assert_eq!(formula_safe(cell), cell);
        }
    }
}
