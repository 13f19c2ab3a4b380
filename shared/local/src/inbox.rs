//! The upload inbox on disk, for `certifica serve`: files dropped into
//! `DATA/inbox/{institution}/{school}/{cycle}/` are handled like S3 uploads
//! and end in `DATA/processed/…` or `DATA/rejected/…` with a `.json`
//! report beside them.

use certifica_core::ports::{Inbox, Settlement, StoreError, StoreResult, settled_key};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The data folder holding `inbox/`, `processed/` and `rejected/`.
#[derive(Debug, Clone)]
pub struct LocalInbox {
    root: PathBuf,
}

/// A file waiting in the inbox: its key and its version (modification time and size).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub key: String,
    pub version: String,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn version_of(meta: &std::fs::Metadata) -> String {
    let modified = meta.modified().ok().and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok());
    format!("{}-{}", modified.map_or(0, |d| d.as_nanos()), meta.len())
}

impl LocalInbox {
    /// Uses (and creates) `root/inbox`.
    pub fn new(root: &Path) -> StoreResult<Self> {
        crate::private::create_dir_all(&root.join("inbox")).map_err(unavailable)?;
        Ok(LocalInbox { root: root.to_path_buf() })
    }

    /// Where files are dropped.
    pub fn folder(&self) -> PathBuf {
        self.root.join("inbox")
    }

    fn path(&self, key: &str) -> StoreResult<PathBuf> {
        // Keys come from our own listing or the upload handler; still, nothing outside the data folder.
        let safe = !key.is_empty()
            && !key.starts_with('/')
            && key.split('/').all(|part| !part.is_empty() && part != "." && part != "..");
        if safe { Ok(self.root.join(key)) } else { Err(StoreError::Invalid(format!("ruta no permitida: {key}"))) }
    }

    /// Files in the inbox that have not changed for `quiet` (one still being
    /// copied waits for a later look); hidden and `.part`/`.tmp` files are skipped.
    pub fn waiting(&self, quiet: Duration) -> StoreResult<Vec<Waiting>> {
        let mut found = Vec::new();
        let mut stack = vec![self.folder()];
        let now = SystemTime::now();
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(unavailable(e)),
            };
            for entry in entries {
                let entry = entry.map_err(unavailable)?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') || name.ends_with(".part") || name.ends_with(".tmp") {
                    continue;
                }
                let meta = entry.metadata().map_err(unavailable)?;
                if meta.is_dir() {
                    stack.push(entry.path());
                    continue;
                }
                let settled =
                    meta.modified().ok().and_then(|m| now.duration_since(m).ok()).is_some_and(|age| age >= quiet);
                if !meta.is_file() || !settled {
                    continue;
                }
                let Ok(relative) = entry.path().strip_prefix(&self.root).map(Path::to_path_buf) else { continue };
                let key = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                found.push(Waiting { key, version: version_of(&meta) });
            }
        }
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }

    fn write_atomically(path: &Path, bytes: &[u8]) -> StoreResult<()> {
        let tmp = path.with_extension("json.tmp");
        crate::private::write(&tmp, bytes).map_err(unavailable)?;
        std::fs::rename(&tmp, path).map_err(unavailable)
    }
}

/// The upload at `path` when it is still the one seen (`version`), blocking.
/// A file replaced since is another upload: `None`, as a missing one.
fn current(path: &std::path::Path, version: Option<&str>) -> StoreResult<Option<std::fs::Metadata>> {
    match std::fs::metadata(path) {
        Ok(meta) if version.is_some_and(|v| v != version_of(&meta)) => Ok(None),
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(unavailable(e)),
    }
}

impl Inbox for LocalInbox {
    async fn size(&self, key: &str, version: Option<&str>) -> StoreResult<Option<u64>> {
        let path = self.path(key)?;
        let version = version.map(str::to_string);
        tokio::task::spawn_blocking(move || Ok(current(&path, version.as_deref())?.map(|meta| meta.len())))
            .await
            .map_err(unavailable)?
    }

    async fn fetch(&self, key: &str, version: Option<&str>) -> StoreResult<Option<Vec<u8>>> {
        let path = self.path(key)?;
        let version = version.map(str::to_string);
        tokio::task::spawn_blocking(move || {
            if current(&path, version.as_deref())?.is_none() {
                return Ok(None);
            }
            match std::fs::read(&path) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(unavailable(e)),
            }
        })
        .await
        .map_err(unavailable)?
    }

    async fn settle(
        &self,
        key: &str,
        _version: Option<&str>,
        settlement: Settlement,
        report: &[u8],
    ) -> StoreResult<String> {
        let target_key = settled_key(key, settlement);
        let (from, to) = (self.path(key)?, self.path(&target_key)?);
        let report = report.to_vec();
        tokio::task::spawn_blocking(move || {
            // Already settled by an earlier delivery: its report is there.
            if !from.exists() {
                return Ok(());
            }
            if let Some(parent) = to.parent() {
                crate::private::create_dir_all(parent).map_err(unavailable)?;
            }
            // Report first, then the move: an upload gone from the inbox always has its report.
            let mut report_path = to.clone().into_os_string();
            report_path.push(".json");
            Self::write_atomically(Path::new(&report_path), &report)?;
            match std::fs::rename(&from, &to) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(unavailable(e)),
            }
        })
        .await
        .map_err(unavailable)??;
        Ok(target_key)
    }
}
