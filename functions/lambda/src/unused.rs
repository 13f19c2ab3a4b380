//! What a function that keeps no documents, sends no mail or stamps nothing
//! has in place of that adapter: so its binary carries no S3, SES or
//! authority code. None of its routes calls it; if one ever did, it would
//! answer "not available here" rather than act.

use certifica_core::mail::{Mail, MailError, SentMail};
use certifica_core::ports::{
    ArtifactKind, ArtifactStore, ArtifactWriter, Mailer, StoreError, StoreResult, StoredArtifact,
};
use certifica_core::records::Tenant;
use certifica_core::stamping::{StampError, Stamped, Stamper};

/// An adapter this function does not have.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unused;

fn unavailable() -> StoreError {
    StoreError::Unavailable("esta función no guarda documentos".into())
}

impl ArtifactStore for Unused {
    type Writer = Unused;

    async fn put(&self, _: &Tenant, _: ArtifactKind, _: &str, _: Vec<u8>, _: &str) -> StoreResult<StoredArtifact> {
        Err(unavailable())
    }

    async fn writer(&self, _: &Tenant, _: ArtifactKind, _: &str, _: &str) -> StoreResult<Unused> {
        Err(unavailable())
    }

    async fn get(&self, _: &Tenant, _: &str) -> StoreResult<Option<Vec<u8>>> {
        Err(unavailable())
    }

    async fn exists(&self, _: &Tenant, _: &str) -> StoreResult<bool> {
        Err(unavailable())
    }

    async fn versions(&self, _: &Tenant, _: &str) -> StoreResult<Vec<String>> {
        Err(unavailable())
    }

    async fn get_version(&self, _: &Tenant, _: &str, _: &str) -> StoreResult<Option<Vec<u8>>> {
        Err(unavailable())
    }

    async fn link(&self, _: &Tenant, _: &str, _: chrono::Duration) -> StoreResult<String> {
        Err(unavailable())
    }
}

impl ArtifactWriter for Unused {
    async fn write(&mut self, _: Vec<u8>) -> StoreResult<()> {
        Err(unavailable())
    }

    async fn finish(self) -> StoreResult<StoredArtifact> {
        Err(unavailable())
    }

    async fn abort(self) {}
}

impl Mailer for Unused {
    async fn send(&self, _: &Mail) -> Result<SentMail, MailError> {
        Err(MailError::Unavailable("esta función no envía correo".into()))
    }
}

impl Stamper for Unused {
    async fn stamp(&self, _: &str) -> Result<Stamped, StampError> {
        Err(StampError::Unavailable("esta función no timbra".into()))
    }
}
