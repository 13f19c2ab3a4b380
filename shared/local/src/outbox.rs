//! Mail in the local mode: each message is written, whole, as an `.eml`
//! file in an outbox folder (open it with any mail client).

use certifica_core::mail::{Mail, MailError, Sender, SentMail};
use certifica_core::ports::Mailer;
use chrono::Utc;
use std::path::{Path, PathBuf};

/// The outbox folder and the address messages come from.
#[derive(Debug, Clone)]
pub struct LocalOutbox {
    dir: PathBuf,
    sender: Sender,
}

impl LocalOutbox {
    /// Uses (creating if needed) `dir`.
    pub fn new(dir: &Path, sender: Sender) -> std::io::Result<Self> {
        crate::private::create_dir_all(dir)?;
        Ok(LocalOutbox { dir: dir.to_path_buf(), sender })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Mailer for LocalOutbox {
    async fn send(&self, mail: &Mail) -> Result<SentMail, MailError> {
        let now = Utc::now();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let bytes = mail.to_mime(&self.sender, &format!("{id}@certifica.local"), now)?;
        let name = format!("{}-{id}.eml", now.format("%Y%m%dT%H%M%S"));
        let (dir, file) = (self.dir.clone(), name.clone());
        tokio::task::spawn_blocking(move || {
            // Written aside and renamed, so a reader never sees half a message.
            let partial = dir.join(format!(".{file}.partial"));
            crate::private::write(&partial, &bytes)?;
            std::fs::rename(&partial, dir.join(&file))
        })
        .await
        .map_err(|e| MailError::Unavailable(e.to_string()))?
        .map_err(|e| MailError::Unavailable(format!("no se pudo escribir en la bandeja de salida: {e}")))?;
        Ok(SentMail { message_id: name })
    }
}
