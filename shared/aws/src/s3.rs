//! Documents in S3, under the tenant's prefix, server-side encrypted on
//! every put, versioned by the bucket (a cancelled PDF is a new version; the
//! original is kept), downloaded through short-lived presigned links.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, ServerSideEncryption, VersioningConfiguration,
};
use certifica_core::ports::{
    ArtifactKind, ArtifactStore, ArtifactWriter, Inbox, Settlement, StoreError, StoreResult, StoredArtifact,
    check_artifact_name, settled_key,
};
use certifica_core::records::Tenant;

/// The tag of bulk zips (`infra/template.yaml` expires them by it).
pub const BULK_ZIP_TAG: &str = "certifica-tipo=zip";

/// The S3 artifact store.
#[derive(Debug, Clone)]
pub struct S3Artifacts {
    client: Client,
    bucket: String,
}

fn unavailable<E: std::error::Error + 'static>(e: SdkError<E>) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(e).to_string())
}

/// `{tenant}/{key}`, with the tenant escaped so it is exactly one path segment.
fn object_key(t: &Tenant, key: &str) -> StoreResult<String> {
    check_artifact_name(key)?;
    // These prefixes hold the upload inbox, not a tenant.
    if ["inbox", "processed", "rejected"].contains(&t.id()) {
        return Err(StoreError::Invalid(format!("«{}» no puede ser el identificador de una institución", t.id())));
    }
    Ok(format!("{}/{key}", t.id().replace('%', "%25").replace('/', "%2F")))
}

impl S3Artifacts {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Artifacts { client, bucket: bucket.into() }
    }

    /// The client (tests read object metadata through it).
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket with versioning on, if missing (deployments create
    /// it from the template; this serves the emulator).
    pub async fn create_bucket(&self) -> StoreResult<()> {
        match self.client.create_bucket().bucket(&self.bucket).send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()) => {}
            Err(e) => return Err(unavailable(e)),
        }
        self.client
            .put_bucket_versioning()
            .bucket(&self.bucket)
            .versioning_configuration(
                VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build(),
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn fetch(&self, object: String, version: Option<&str>) -> StoreResult<Option<Vec<u8>>> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(object)
            .set_version_id(version.map(str::to_string))
            .send()
            .await;
        match out {
            Ok(o) => {
                let bytes = o.body.collect().await.map_err(|e| StoreError::Unavailable(e.to_string()))?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            // An unknown version id answers 400/404 without a modelled error.
            Err(SdkError::ServiceError(s)) if matches!(s.raw().status().as_u16(), 400 | 404) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The object's metadata without its content (HEAD); `None` when it (or that version) does not exist.
    async fn head(&self, object: &str, version: Option<&str>) -> StoreResult<Option<HeadObjectOutput>> {
        let head =
            self.client.head_object().bucket(&self.bucket).key(object).set_version_id(version.map(str::to_string));
        match head.send().await {
            Ok(o) => Ok(Some(o)),
            // A missing object, or an unknown version id, answers 400/404 without a modelled error.
            Err(SdkError::ServiceError(s)) if matches!(s.raw().status().as_u16(), 400 | 404) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// The size of each part of a multipart upload but the last (S3's minimum
/// is 5 MiB; larger parts mean fewer requests, smaller ones less memory).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// A document uploaded to S3 in parts: one plain put when it stays under
/// [`PART_SIZE`], a multipart upload otherwise. The bucket's lifecycle rule
/// removes the parts of an upload that was never finished nor aborted.
pub struct S3Writer {
    client: Client,
    bucket: String,
    object: String,
    key: String,
    kind: ArtifactKind,
    content_type: String,
    buffer: Vec<u8>,
    /// Started with the first full part.
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
}

impl S3Writer {
    async fn upload_id(&mut self) -> StoreResult<String> {
        if let Some(id) = &self.upload_id {
            return Ok(id.clone());
        }
        let mut create = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.object)
            .content_type(&self.content_type)
            .server_side_encryption(ServerSideEncryption::Aes256);
        if self.kind == ArtifactKind::BulkZip {
            create = create.tagging(BULK_ZIP_TAG);
        }
        let out = create.send().await.map_err(unavailable)?;
        let id = out
            .upload_id()
            .ok_or_else(|| StoreError::Unavailable("S3 no devolvió el identificador de la carga".into()))?
            .to_string();
        self.upload_id = Some(id.clone());
        Ok(id)
    }

    async fn upload_part(&mut self) -> StoreResult<()> {
        let upload_id = self.upload_id().await?;
        let number = i32::try_from(self.parts.len() + 1)
            .map_err(|_| StoreError::Invalid("demasiadas partes para un documento".into()))?;
        let body = std::mem::take(&mut self.buffer);
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.object)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(unavailable)?;
        self.parts
            .push(CompletedPart::builder().set_e_tag(out.e_tag().map(str::to_string)).part_number(number).build());
        Ok(())
    }
}

impl ArtifactWriter for S3Writer {
    async fn write(&mut self, bytes: Vec<u8>) -> StoreResult<()> {
        if self.buffer.is_empty() {
            self.buffer = bytes;
        } else {
            self.buffer.extend_from_slice(&bytes);
        }
        if self.buffer.len() >= PART_SIZE { self.upload_part().await } else { Ok(()) }
    }

    async fn finish(mut self) -> StoreResult<StoredArtifact> {
        let Some(upload_id) = self.upload_id.clone() else {
            let bytes = std::mem::take(&mut self.buffer);
            let version =
                put_object(&self.client, &self.bucket, self.object.clone(), self.kind, bytes, &self.content_type)
                    .await?;
            return Ok(StoredArtifact { key: self.key.clone(), version });
        };
        let completed = async {
            if !self.buffer.is_empty() {
                self.upload_part().await?;
            }
            let parts = CompletedMultipartUpload::builder().set_parts(Some(self.parts.clone())).build();
            self.client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(&self.object)
                .upload_id(&upload_id)
                .multipart_upload(parts)
                .send()
                .await
                .map_err(unavailable)
        }
        .await;
        match completed {
            Ok(out) => {
                Ok(StoredArtifact { key: self.key.clone(), version: out.version_id().unwrap_or("null").to_string() })
            }
            Err(e) => {
                self.abort().await;
                Err(e)
            }
        }
    }

    async fn abort(self) {
        if let Some(upload_id) = &self.upload_id {
            let aborted = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&self.object)
                .upload_id(upload_id)
                .send()
                .await;
            // The lifecycle rule removes the parts if this did not.
            if let Err(e) = aborted {
                tracing::warn!(object = %self.object, error = %DisplayErrorContext(e), "abort_multipart_upload failed");
            }
        }
    }
}

/// Puts one object (server-side encrypted; bulk zips tagged for expiry); its version.
async fn put_object(
    client: &Client,
    bucket: &str,
    object: String,
    kind: ArtifactKind,
    bytes: Vec<u8>,
    content_type: &str,
) -> StoreResult<String> {
    let mut put = client
        .put_object()
        .bucket(bucket)
        .key(object)
        .body(ByteStream::from(bytes))
        .content_type(content_type)
        .server_side_encryption(ServerSideEncryption::Aes256);
    if kind == ArtifactKind::BulkZip {
        // The bucket's lifecycle rule expires tagged bulk zips after two days.
        put = put.tagging(BULK_ZIP_TAG);
    }
    let out = put.send().await.map_err(unavailable)?;
    Ok(out.version_id().unwrap_or("null").to_string())
}

impl ArtifactStore for S3Artifacts {
    type Writer = S3Writer;

    async fn put(
        &self,
        t: &Tenant,
        kind: ArtifactKind,
        name: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> StoreResult<StoredArtifact> {
        let key = kind.key(name);
        let version = put_object(&self.client, &self.bucket, object_key(t, &key)?, kind, bytes, content_type).await?;
        Ok(StoredArtifact { key, version })
    }

    async fn writer(&self, t: &Tenant, kind: ArtifactKind, name: &str, content_type: &str) -> StoreResult<S3Writer> {
        let key = kind.key(name);
        Ok(S3Writer {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            object: object_key(t, &key)?,
            key,
            kind,
            content_type: content_type.to_string(),
            buffer: Vec::new(),
            upload_id: None,
            parts: Vec::new(),
        })
    }

    async fn get(&self, t: &Tenant, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.fetch(object_key(t, key)?, None).await
    }

    async fn exists(&self, t: &Tenant, key: &str) -> StoreResult<bool> {
        Ok(self.head(&object_key(t, key)?, None).await?.is_some())
    }

    async fn versions(&self, t: &Tenant, key: &str) -> StoreResult<Vec<String>> {
        let object = object_key(t, key)?;
        let mut versions = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let out = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(&object)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(unavailable)?;
            versions.extend(
                out.versions()
                    .iter()
                    .filter(|v| v.key() == Some(object.as_str()))
                    .filter_map(|v| v.version_id().map(str::to_string)),
            );
            if out.is_truncated() == Some(true) {
                key_marker = out.next_key_marker().map(str::to_string);
                version_marker = out.next_version_id_marker().map(str::to_string);
            } else {
                break;
            }
        }
        // S3 lists a key's versions newest first.
        versions.reverse();
        Ok(versions)
    }

    async fn get_version(&self, t: &Tenant, key: &str, version: &str) -> StoreResult<Option<Vec<u8>>> {
        self.fetch(object_key(t, key)?, Some(version)).await
    }

    async fn link(&self, t: &Tenant, key: &str, ttl: chrono::Duration) -> StoreResult<String> {
        let object = object_key(t, key)?;
        // Only link what exists for this tenant.
        self.client.head_object().bucket(&self.bucket).key(&object).send().await.map_err(|e| {
            if e.as_service_error().is_some_and(|s| s.is_not_found()) {
                StoreError::NotFound(format!("el documento {key}"))
            } else {
                unavailable(e)
            }
        })?;
        let expires = ttl.to_std().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let config = PresigningConfig::expires_in(expires).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let request =
            self.client.get_object().bucket(&self.bucket).key(object).presigned(config).await.map_err(unavailable)?;
        Ok(request.uri().to_string())
    }
}

/// Only unreserved characters and `/` stay as they are in a copy source.
const COPY_SOURCE: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'/');

/// The upload inbox lives in the same bucket, beside the tenants' documents:
/// `inbox/…` (where the ObjectCreated notification points), `processed/…`
/// and `rejected/…` (where uploads end, with their JSON reports).
impl Inbox for S3Artifacts {
    async fn size(&self, key: &str, version: Option<&str>) -> StoreResult<Option<u64>> {
        Ok(self.head(key, version).await?.map(|o| o.content_length().unwrap_or_default().max(0) as u64))
    }

    async fn fetch(&self, key: &str, version: Option<&str>) -> StoreResult<Option<Vec<u8>>> {
        self.fetch(key.to_string(), version).await
    }

    async fn settle(
        &self,
        key: &str,
        version: Option<&str>,
        settlement: Settlement,
        report: &[u8],
    ) -> StoreResult<String> {
        let target = settled_key(key, settlement);
        let mut source = format!("{}/{}", self.bucket, percent_encoding::utf8_percent_encode(key, COPY_SOURCE));
        if let Some(v) = version {
            source.push_str(&format!("?versionId={}", percent_encoding::utf8_percent_encode(v, COPY_SOURCE)));
        }
        // Report first, then the move: an upload gone from the inbox always has its report.
        if self.head(key, version).await?.is_none() {
            // Already settled by an earlier delivery.
            return Ok(target);
        }
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(format!("{target}.json"))
            .body(ByteStream::from(report.to_vec()))
            .content_type("application/json")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await
            .map_err(unavailable)?;
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .key(&target)
            .copy_source(source)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await
            .map_err(unavailable)?;
        // Only the version that was handled: a newer upload under the same name stays.
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(target)
    }
}
