//! Documents in a data folder, versioned, with expiring HMAC-signed links
//! that the local server serves (`{base}{token}`, checked by
//! [`LocalArtifacts::resolve_link`]).
//!
//! Layout: `ROOT/{tenant}/{key}@v{000001}` — one file per version beside
//! the other keys of its folder, written to a temporary name and then
//! linked as the next version, so a reader never sees half a document.
//! (A folder per key, as folders written before held, cost a directory per
//! document: see docs/performance.md §2b. Those are still read.)

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use certifica_core::ports::{
    ArtifactKind, ArtifactStore, ArtifactWriter, StoreError, StoreResult, StoredArtifact, check_artifact_name,
};
use certifica_core::records::Tenant;
use chrono::{DateTime, Duration, Utc};
use std::path::{Path, PathBuf};

/// Why a download link is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("el enlace de descarga no es válido")]
    Invalid,
    #[error("el enlace de descarga expiró; solicite uno nuevo")]
    Expired,
}

/// What a valid link points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTarget {
    pub tenant: Tenant,
    pub key: String,
    pub version: String,
}

/// The artifacts folder.
#[derive(Clone)]
pub struct LocalArtifacts {
    root: PathBuf,
    link_base: String,
    key: hmac::Key,
}

impl std::fmt::Debug for LocalArtifacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalArtifacts").field("root", &self.root).finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Tenant ids become one folder name each, whatever they contain.
fn tenant_dir(t: &Tenant) -> String {
    URL_SAFE_NO_PAD.encode(t.id())
}

impl LocalArtifacts {
    /// `secret` signs download links (at least 32 bytes, kept in the data folder).
    pub fn new(root: &Path, link_base: impl Into<String>, secret: &[u8]) -> StoreResult<Self> {
        if secret.len() < 32 {
            return Err(unavailable("la clave para firmar enlaces debe tener al menos 32 bytes"));
        }
        crate::private::create_dir_all(root).map_err(unavailable)?;
        Ok(LocalArtifacts {
            root: root.to_path_buf(),
            link_base: link_base.into(),
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        })
    }

    fn place(&self, t: &Tenant, key: &str) -> StoreResult<Place> {
        check_artifact_name(key)?;
        let legacy = self.root.join(tenant_dir(t)).join(key);
        let (parent, base) = match key.rsplit_once('/') {
            Some((dir, base)) => (self.root.join(tenant_dir(t)).join(dir), base.to_string()),
            None => (self.root.join(tenant_dir(t)), key.to_string()),
        };
        Ok(Place { root: self.root.clone(), parent, base, legacy })
    }

    /// Checks a link token (the part after the base) as of `now`.
    pub fn resolve_link(&self, token: &str, now: DateTime<Utc>) -> Result<LinkTarget, LinkError> {
        let (payload, tag) = token.split_once('.').ok_or(LinkError::Invalid)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| LinkError::Invalid)?;
        hmac::verify(&self.key, payload.as_bytes(), &tag).map_err(|_| LinkError::Invalid)?;
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).map_err(|_| LinkError::Invalid)?)
            .map_err(|_| LinkError::Invalid)?;
        let mut parts = payload.splitn(4, '\n');
        let (Some(exp), Some(tenant), Some(version), Some(key)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(LinkError::Invalid);
        };
        let exp: i64 = exp.parse().map_err(|_| LinkError::Invalid)?;
        if now.timestamp() > exp {
            return Err(LinkError::Expired);
        }
        Ok(LinkTarget {
            tenant: Tenant::from_verified_identity(tenant),
            key: key.to_string(),
            version: version.to_string(),
        })
    }

    /// The bytes a valid link points to.
    pub fn open_link(&self, token: &str, now: DateTime<Utc>) -> Result<Option<Vec<u8>>, LinkError> {
        let target = self.resolve_link(token, now)?;
        let place = self.place(&target.tenant, &target.key).map_err(|_| LinkError::Invalid)?;
        place.read(&target.version).map_err(|_| LinkError::Invalid)
    }
}

/// Where one key's versions live: `{parent}/{base}@v000001`, … (`@` is
/// never in a key, so no key's file is another's), or, in folders written
/// before this layout, `{legacy}/v000001`, … (one folder per key: a new
/// version of such a key continues its numbering in the new layout).
#[derive(Debug, Clone)]
struct Place {
    /// The artifacts folder (the folders made under it are synced up to it).
    root: PathBuf,
    parent: PathBuf,
    base: String,
    legacy: PathBuf,
}

fn is_version(v: &str) -> bool {
    v.len() > 1 && v.starts_with('v') && v[1..].bytes().all(|b| b.is_ascii_digit())
}

fn number(v: &str) -> u64 {
    v[1..].parse().unwrap_or(0)
}

impl Place {
    fn file(&self, version: &str) -> PathBuf {
        self.parent.join(format!("{}@{version}", self.base))
    }

    /// Every version, oldest first. New-layout versions are numbered one
    /// after another from the last legacy one (publish never leaves a
    /// gap), so they are found by looking up the next name until one is
    /// missing rather than by listing a folder shared with other keys.
    fn versions(&self) -> StoreResult<Vec<String>> {
        let mut versions: Vec<String> = match std::fs::read_dir(&self.legacy) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| is_version(n))
                .collect(),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
                Vec::new()
            }
            Err(e) => return Err(unavailable(e)),
        };
        versions.sort();
        let mut n = versions.last().map_or(0, |v| number(v));
        loop {
            n += 1;
            let version = format!("v{n:06}");
            match std::fs::symlink_metadata(self.file(&version)) {
                Ok(_) => versions.push(version),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(versions),
                Err(e) => return Err(unavailable(e)),
            }
        }
    }

    /// One version's bytes (`None`: no such version).
    fn read(&self, version: &str) -> StoreResult<Option<Vec<u8>>> {
        if !is_version(version) {
            return Ok(None);
        }
        match read_file(&self.file(version))? {
            Some(bytes) => Ok(Some(bytes)),
            None => read_file(&self.legacy.join(version)),
        }
    }

    fn latest(&self) -> StoreResult<Option<Vec<u8>>> {
        match self.versions()?.last() {
            Some(v) => self.read(v),
            None => Ok(None),
        }
    }

    /// A temporary file for a version being written, beside the versions
    /// (its folder made on first use).
    fn part_file(&self) -> StoreResult<(PathBuf, std::fs::File)> {
        let path = self.parent.join(format!(".{}@part", uuid::Uuid::new_v4()));
        match crate::private::create_new(&path) {
            Ok(file) => Ok((path, file)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                crate::private::create_dir_all(&self.parent).map_err(unavailable)?;
                // The new folders' own entries, up to the root, outlive a crash too.
                let mut folder = self.parent.as_path();
                while let Some(up) = folder.parent().filter(|_| folder != self.root) {
                    sync_dir(up).map_err(unavailable)?;
                    folder = up;
                }
                Ok((path.clone(), crate::private::create_new(&path).map_err(unavailable)?))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Links the finished temporary file `part` as the next version (a
    /// hard link fails if the name exists, so two writers never share one),
    /// and makes the new name durable before the caller records it.
    fn publish(&self, part: &Path, key: String) -> StoreResult<StoredArtifact> {
        let mut n = self.versions()?.last().map_or(0, |v| number(v));
        let stored = loop {
            n += 1;
            let version = format!("v{n:06}");
            match std::fs::hard_link(part, self.file(&version)) {
                Ok(()) => break StoredArtifact { key, version },
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(unavailable(e)),
            }
        };
        let _ = std::fs::remove_file(part);
        sync_dir(&self.parent).map_err(unavailable)?;
        Ok(stored)
    }

    /// Flushes `file` to disk and publishes it; on failure the temporary file goes.
    fn finish_part(&self, path: &Path, file: std::fs::File, key: String) -> StoreResult<StoredArtifact> {
        let synced = file.sync_all().map_err(unavailable);
        drop(file);
        let stored = synced.and_then(|()| self.publish(path, key));
        if stored.is_err() {
            let _ = std::fs::remove_file(path);
        }
        stored
    }
}

/// Flushes a folder's entries: the file's own fsync covers its data, not
/// the name that points to it, which a crash could otherwise lose after
/// the records already name it.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Windows journals a folder's entries with the file system's metadata.
#[cfg(not(unix))]
fn sync_dir(_: &Path) -> std::io::Result<()> {
    Ok(())
}

fn read_file(path: &Path) -> StoreResult<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => Ok(None),
        Err(e) => Err(unavailable(e)),
    }
}

/// A document written to a temporary file part by part (the file made at
/// the first write), linked as the next version when finished; dropped
/// unfinished, the file goes.
pub struct LocalWriter {
    place: Place,
    key: String,
    /// The temporary file and its path, once something was written.
    part: Option<(PathBuf, std::fs::File)>,
}

impl ArtifactWriter for LocalWriter {
    async fn write(&mut self, bytes: Vec<u8>) -> StoreResult<()> {
        use std::io::Write;
        let (_, file) = match &mut self.part {
            Some(part) => part,
            None => self.part.insert(self.place.part_file()?),
        };
        // A local disk write of one part: short enough for the async thread.
        file.write_all(&bytes).map_err(unavailable)
    }

    async fn finish(mut self) -> StoreResult<StoredArtifact> {
        let (place, key, part) = (self.place.clone(), self.key.clone(), self.part.take());
        tokio::task::spawn_blocking(move || {
            // Nothing written is an empty document.
            let (path, file) = match part {
                Some(part) => part,
                None => place.part_file()?,
            };
            place.finish_part(&path, file, key)
        })
        .await
        .map_err(unavailable)?
    }

    async fn abort(self) {
        // Drop removes what was written.
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        if let Some((path, file)) = self.part.take() {
            drop(file);
            let _ = std::fs::remove_file(path);
        }
    }
}

impl ArtifactStore for LocalArtifacts {
    type Writer = LocalWriter;

    async fn put(
        &self,
        t: &Tenant,
        kind: ArtifactKind,
        name: &str,
        bytes: Vec<u8>,
        _content_type: &str,
    ) -> StoreResult<StoredArtifact> {
        let key = kind.key(name);
        let place = self.place(t, &key)?;
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let (path, mut file) = place.part_file()?;
            if let Err(e) = file.write_all(&bytes) {
                drop(file);
                let _ = std::fs::remove_file(&path);
                return Err(unavailable(e));
            }
            place.finish_part(&path, file, key)
        })
        .await
        .map_err(unavailable)?
    }

    async fn writer(
        &self,
        t: &Tenant,
        kind: ArtifactKind,
        name: &str,
        _content_type: &str,
    ) -> StoreResult<LocalWriter> {
        let key = kind.key(name);
        Ok(LocalWriter { place: self.place(t, &key)?, key, part: None })
    }

    async fn exists(&self, t: &Tenant, key: &str) -> StoreResult<bool> {
        Ok(!self.place(t, key)?.versions()?.is_empty())
    }

    async fn get(&self, t: &Tenant, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.place(t, key)?.latest()
    }

    async fn versions(&self, t: &Tenant, key: &str) -> StoreResult<Vec<String>> {
        self.place(t, key)?.versions()
    }

    async fn get_version(&self, t: &Tenant, key: &str, version: &str) -> StoreResult<Option<Vec<u8>>> {
        self.place(t, key)?.read(version)
    }

    async fn link(&self, t: &Tenant, key: &str, ttl: Duration) -> StoreResult<String> {
        let version =
            self.place(t, key)?.versions()?.pop().ok_or_else(|| StoreError::NotFound(format!("el documento {key}")))?;
        let exp = (Utc::now() + ttl).timestamp();
        let payload = URL_SAFE_NO_PAD.encode(format!("{exp}\n{}\n{version}\n{key}", t.id()));
        let tag = URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, payload.as_bytes()).as_ref());
        Ok(format!("{}{payload}.{tag}", self.link_base))
    }
}
