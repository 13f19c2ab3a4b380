//! Bulk zips (a cycle's certificates, the sealed or unsealed exports): the
//! documents and a CSV manifest, streamed to the artifact store as the zip
//! is written, so memory holds one part of it — never the whole zip of a
//! 5,000-student cycle. A small zip is stored with one plain put.

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

/// Zip bytes gathered before they go to the store (the S3 part size).
const PART_BYTES: usize = 8 * 1024 * 1024;

/// The zip writer's output not yet handed to the store.
#[derive(Clone, Default)]
struct Pending(Arc<Mutex<Vec<u8>>>);

impl Pending {
    /// Takes what is pending if there is at least `min` bytes of it.
    fn take(&self, min: usize) -> Vec<u8> {
        match self.0.lock() {
            Ok(mut bytes) if bytes.len() >= min => std::mem::take(&mut *bytes),
            _ => Vec::new(),
        }
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
    name: String,
    zip: zip::ZipWriter<zip::write::StreamWriter<Pending>>,
    pending: Pending,
    /// Started when the first part is full.
    upload: Option<<X::Artifacts as ArtifactStore>::Writer>,
    manifest: csv::Writer<Vec<u8>>,
    rows: usize,
}

impl<'a, X: Adapters> BulkZip<'a, X> {
    pub(crate) fn new(api: &'a Api<X>, tenant: &'a Tenant, columns: &[&str]) -> Result<Self, Problem> {
        let mut manifest = csv::Writer::from_writer(Vec::new());
        manifest.write_record(columns).map_err(zip_error)?;
        let pending = Pending::default();
        Ok(BulkZip {
            api,
            tenant,
            name: format!("{}.zip", uuid::Uuid::new_v4()),
            zip: zip::ZipWriter::new_stream(pending.clone()),
            pending,
            upload: None,
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
        let part = self.pending.take(PART_BYTES);
        if part.is_empty() {
            return Ok(());
        }
        let upload = match &mut self.upload {
            Some(upload) => upload,
            None => self.upload.insert(
                self.api.artifacts.writer(self.tenant, ArtifactKind::BulkZip, &self.name, "application/zip").await?,
            ),
        };
        Ok(upload.write(part).await?)
    }

    pub(crate) fn row(&mut self, record: &[&str]) -> Result<(), Problem> {
        self.manifest.write_record(record).map_err(zip_error)?;
        self.rows += 1;
        Ok(())
    }

    /// Ends the zip: if `filled` failed, or nothing was added (`empty`
    /// says why that is an error), what was uploaded is discarded;
    /// otherwise `manifiesto.csv` is added, the zip stored, and its link
    /// answered with `extra` fields.
    pub(crate) async fn conclude(
        self,
        filled: Result<(), Problem>,
        empty: impl FnOnce() -> Problem,
        extra: Value,
    ) -> Result<Response<Bytes>, Problem> {
        let problem = match filled {
            Err(p) => Some(p),
            Ok(()) if self.rows == 0 => Some(empty()),
            Ok(()) => None,
        };
        if let Some(problem) = problem {
            if let Some(upload) = self.upload {
                upload.abort().await;
            }
            return Err(problem);
        }
        let BulkZip { api, tenant, name, mut zip, pending, upload, manifest, rows } = self;
        let written = manifest.into_inner().map_err(zip_error).and_then(|m| {
            let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
            zip.start_file("manifiesto.csv", options).map_err(zip_error)?;
            zip.write_all(&m).map_err(zip_error)?;
            zip.finish().map_err(zip_error)
        });
        let rest = pending.take(0);
        let stored = match (written, upload) {
            (Ok(_), None) => api.artifacts.put(tenant, ArtifactKind::BulkZip, &name, rest, "application/zip").await?,
            (Ok(_), Some(mut upload)) => match upload.write(rest).await {
                Ok(()) => upload.finish().await?,
                Err(e) => {
                    upload.abort().await;
                    return Err(e.into());
                }
            },
            (Err(p), upload) => {
                if let Some(upload) = upload {
                    upload.abort().await;
                }
                return Err(p);
            }
        };
        let url = api.artifacts.link(tenant, &stored.key, chrono::Duration::minutes(LINK_MINUTES)).await?;
        let mut answer = json!({
            "certificates": rows,
            "url": url,
            "expiresAt": Utc::now() + chrono::Duration::minutes(LINK_MINUTES),
        });
        if let (Some(answer), Value::Object(extra)) = (answer.as_object_mut(), extra) {
            answer.extend(extra);
        }
        Ok(json_response(StatusCode::OK, &answer))
    }
}
