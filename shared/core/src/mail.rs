//! Mail to students: one message with attachments to several recipients,
//! as a MIME message built by `mail-builder` (never hand-written MIME). The
//! SES adapter sends these bytes; the local outbox writes them as `.eml`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Largest message accepted (SES's raw message limit is 10 MB after
/// encoding; attachments grow by a third in base64).
pub const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;
/// Recipients per message (SES allows 50).
pub const MAX_RECIPIENTS: usize = 50;

/// A file attached to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// One message to several recipients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub attachments: Vec<Attachment>,
    /// Where replies go (the school's control escolar), when set.
    pub reply_to: Option<String>,
}

/// The address messages come from (a verified SES identity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    pub name: String,
    pub address: String,
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("el mensaje no tiene destinatarios: registre el correo personal o institucional del alumno")]
    NoRecipients,
    #[error("la dirección de correo «{0}» no es válida")]
    InvalidAddress(String),
    #[error("el mensaje tiene {0} destinatarios; el máximo es {MAX_RECIPIENTS}")]
    TooManyRecipients(usize),
    #[error("el mensaje mide {0} bytes con sus adjuntos; el máximo es {MAX_MESSAGE_BYTES}")]
    TooLarge(usize),
    /// Refused by the mail service for good (unverified sender, rejected content…).
    #[error("el servicio de correo rechazó el mensaje: {0}")]
    Rejected(String),
    /// The mail service is unavailable or throttling after retries: try later.
    #[error("el servicio de correo no está disponible; intente más tarde ({0})")]
    Unavailable(String),
}

impl MailError {
    pub fn code(&self) -> &'static str {
        match self {
            MailError::NoRecipients => "correo_sin_destinatarios",
            MailError::InvalidAddress(_) => "correo_invalido",
            MailError::TooManyRecipients(_) => "correo_demasiados_destinatarios",
            MailError::TooLarge(_) => "correo_demasiado_grande",
            MailError::Rejected(_) => "correo_rechazado",
            MailError::Unavailable(_) => "correo_no_disponible",
        }
    }
}

/// A plausible single mailbox: `local@domain.tld`, no spaces, controls or
/// header punctuation (so nothing can be injected into headers).
pub fn is_valid_address(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else { return false };
    let allowed = |c: char| {
        c.is_ascii_graphic() && !matches!(c, '<' | '>' | '(' | ')' | ',' | ';' | ':' | '"' | '[' | ']' | '\\' | '@')
    };
    address.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && local.chars().all(allowed)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// A message accepted by the mail service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMail {
    /// The service's id (SES MessageId, or the outbox file name).
    pub message_id: String,
}

impl Mail {
    /// The recipients without duplicates (case-insensitive), after checking
    /// every address and the limits.
    pub fn recipients(&self) -> Result<Vec<String>, MailError> {
        let mut out: Vec<String> = Vec::new();
        for address in &self.to {
            let address = address.trim();
            if !is_valid_address(address) {
                return Err(MailError::InvalidAddress(address.to_string()));
            }
            if !out.iter().any(|a| a.eq_ignore_ascii_case(address)) {
                out.push(address.to_string());
            }
        }
        if let Some(r) = self.reply_to.as_ref().filter(|r| !is_valid_address(r)) {
            return Err(MailError::InvalidAddress(r.clone()));
        }
        match out.len() {
            0 => Err(MailError::NoRecipients),
            n if n > MAX_RECIPIENTS => Err(MailError::TooManyRecipients(n)),
            _ => Ok(out),
        }
    }

    /// The whole MIME message (RFC 5322) from `sender`, checked and within
    /// [`MAX_MESSAGE_BYTES`].
    pub fn to_mime(&self, sender: &Sender, message_id: &str, date: DateTime<Utc>) -> Result<Vec<u8>, MailError> {
        let recipients = self.recipients()?;
        if !is_valid_address(&sender.address) {
            return Err(MailError::InvalidAddress(sender.address.clone()));
        }
        let mut builder = mail_builder::MessageBuilder::new()
            .from((sender.name.as_str(), sender.address.as_str()))
            .to(recipients.iter().map(String::as_str).collect::<Vec<_>>())
            .subject(self.subject.as_str())
            .message_id(message_id)
            .date(date.timestamp())
            .text_body(self.text.as_str());
        if let Some(r) = &self.reply_to {
            builder = builder.reply_to(r.as_str());
        }
        for a in &self.attachments {
            builder = builder.attachment(a.content_type.as_str(), a.filename.as_str(), a.bytes.as_slice());
        }
        let bytes = builder.write_to_vec().map_err(|e| MailError::Rejected(e.to_string()))?;
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(MailError::TooLarge(bytes.len()));
        }
        Ok(bytes)
    }
}

/// What a certificate mail says: who issued it, to whom, and where to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateNotice<'a> {
    pub institution: &'a str,
    pub student_name: &'a str,
    pub folio_digital: &'a str,
    /// The public verification page of this folio.
    pub verify_url: &'a str,
}

/// The message that delivers a certificate (the XML, and the PDF when
/// given) to a student's addresses, in Spanish.
pub fn certificate_mail(
    to: Vec<String>,
    notice: &CertificateNotice<'_>,
    xml: Attachment,
    pdf: Option<Attachment>,
    reply_to: Option<String>,
) -> Mail {
    let mut text = format!(
        "Estimada(o) {}:\n\n{} le envía su certificado electrónico de estudios.\n\n\
         - {}: el documento electrónico con validez oficial. Consérvelo tal como está; cualquier cambio lo invalida.\n",
        notice.student_name, notice.institution, xml.filename
    );
    if let Some(pdf) = &pdf {
        text.push_str(&format!("- {}: su representación impresa.\n", pdf.filename));
    }
    text.push_str(&format!(
        "\nFolio digital: {}\nCualquier persona puede comprobar su validez en {}\n\n\
         Este mensaje se envió automáticamente. Si tiene dudas, responda a este correo o acuda a Control Escolar.\n",
        notice.folio_digital, notice.verify_url
    ));
    Mail {
        to,
        subject: format!("Su certificado electrónico de estudios — {}", notice.institution),
        text,
        attachments: std::iter::once(xml).chain(pdf).collect(),
        reply_to,
    }
}

/// What a "your download is ready" mail says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadNotice<'a> {
    pub institution: &'a str,
    pub school: &'a str,
    pub cycle: &'a str,
    pub certificates: u32,
    /// The API address that answers a fresh link to the zip.
    pub job_url: &'a str,
}

/// The message that tells a user the cycle zip they asked for is ready. It
/// carries no link to the file: links live minutes, the mail may be read
/// hours later; Certifica answers a fresh one.
pub fn download_ready_mail(to: String, notice: &DownloadNotice<'_>) -> Mail {
    let text = format!(
        "El archivo con los {} certificados de la escuela {}, ciclo {}, que solicitó ya está listo.\n\n\
         Para descargarlo, abra el ciclo en Certifica y elija de nuevo «Descargar»: el archivo ya preparado \
         se descarga de inmediato mientras ningún certificado cambie. (Desde la API: {}.)\n\n\
         Este mensaje se envió automáticamente.\n",
        notice.certificates, notice.school, notice.cycle, notice.job_url
    );
    let subject = match notice.institution {
        "" => "Su descarga de certificados está lista".to_string(),
        name => format!("Su descarga de certificados está lista — {name}"),
    };
    Mail { to: vec![to], subject, text, attachments: Vec::new(), reply_to: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_download_mail_says_what_is_ready_and_where_to_get_it() {
        let notice = DownloadNotice {
            institution: "Universidad del Valle",
            school: "NORTE",
            cycle: "2026",
            certificates: 3000,
            job_url: "/v1/jobs/j1/download",
        };
        let m = download_ready_mail("ana@x.mx".into(), &notice);
        assert_eq!(m.to, ["ana@x.mx"]);
        assert!(m.subject.ends_with("— Universidad del Valle"), "{}", m.subject);
        for part in ["3000 certificados", "NORTE", "ciclo 2026", "«Descargar»", "/v1/jobs/j1/download"] {
            assert!(m.text.contains(part), "{part} missing from {}", m.text);
        }
        assert!(m.attachments.is_empty());
        assert!(m.recipients().is_ok());
    }

    fn mail(to: &[&str]) -> Mail {
        Mail {
            to: to.iter().map(|s| s.to_string()).collect(),
            subject: "Tu certificado electrónico de estudios".into(),
            text: "Hola, adjuntamos tu certificado. Atentamente, Control Escolar".into(),
            attachments: vec![Attachment {
                filename: "certificado-A001.xml".into(),
                content_type: "application/xml".into(),
                bytes: "<Dec>ñ</Dec>".as_bytes().to_vec(),
            }],
            reply_to: Some("control.escolar@uva.edu.mx".into()),
        }
    }

    fn sender() -> Sender {
        Sender { name: "Certificación Universidad".into(), address: "certificados@uva.edu.mx".into() }
    }

    #[test]
    fn addresses_are_checked_and_deduplicated() {
        assert!(is_valid_address("ana.ruiz+2026@alumnos.uva.edu.mx"));
        for bad in
            ["", "ana", "@x.mx", "ana@", "ana@mx", "ana @x.mx", "a\r\nBcc: x@y.mx", "a<b>@x.mx", "a@x..mx", "a@.x.mx"]
        {
            assert!(!is_valid_address(bad), "{bad:?}");
        }
        let m = mail(&["ana@x.mx", "ANA@x.mx", " luis@y.mx "]);
        assert_eq!(m.recipients().unwrap(), ["ana@x.mx", "luis@y.mx"]);
        assert_eq!(mail(&[]).recipients(), Err(MailError::NoRecipients));
        assert_eq!(mail(&["no es correo"]).recipients(), Err(MailError::InvalidAddress("no es correo".into())));
    }

    #[test]
    fn the_mime_message_carries_spanish_headers_and_the_attachment() {
        let raw =
            mail(&["ana@x.mx", "ana.ruiz@alumnos.uva.edu.mx"]).to_mime(&sender(), "abc@certifica", Utc::now()).unwrap();
        let text = String::from_utf8(raw).unwrap();
        assert!(text.contains("To: <ana@x.mx>, <ana.ruiz@alumnos.uva.edu.mx>\r\n"), "{text}");
        // Non-ASCII header text is RFC 2047 encoded; the XML travels as a base64 attachment.
        assert!(text.contains("Subject: =?utf-8?Q?Tu_certificado_electr=C3=B3nico_de_estudios?="), "{text}");
        assert!(text.contains("Message-ID: <abc@certifica>"));
        assert!(text.contains("Content-Type: multipart/mixed"));
        assert!(text.contains("Content-Disposition: attachment; filename=\"certificado-A001.xml\""));
        assert!(text.contains("PERlYz7DsTwvRGVjPg=="), "base64 of <Dec>ñ</Dec>");
        assert!(text.contains("Reply-To: <control.escolar@uva.edu.mx>"));
    }

    #[test]
    fn the_certificate_mail_names_the_attachments_the_folio_and_where_to_verify() {
        let notice = CertificateNotice {
            institution: "Universidad del Valle",
            student_name: "Ana Núñez Ruiz",
            folio_digital: "8f1d2c3e-0000-4000-8000-000000000001",
            verify_url: "https://certifica.example/v1/verify/8f1d2c3e-0000-4000-8000-000000000001",
        };
        let xml = Attachment {
            filename: "A001.xml".into(),
            content_type: "application/xml".into(),
            bytes: b"<Dec/>".to_vec(),
        };
        let pdf =
            Attachment { filename: "A001.pdf".into(), content_type: "application/pdf".into(), bytes: b"%PDF".to_vec() };
        let m = certificate_mail(vec!["ana@x.mx".into()], &notice, xml.clone(), Some(pdf), None);
        assert_eq!(m.subject, "Su certificado electrónico de estudios — Universidad del Valle");
        assert!(m.text.starts_with("Estimada(o) Ana Núñez Ruiz:"));
        for part in ["A001.xml", "A001.pdf", notice.folio_digital, notice.verify_url] {
            assert!(m.text.contains(part), "{part} missing from {}", m.text);
        }
        assert_eq!(m.attachments.len(), 2);
        let xml_only = certificate_mail(vec!["ana@x.mx".into()], &notice, xml, None, None);
        assert_eq!(xml_only.attachments.len(), 1);
        assert!(!xml_only.text.contains("representación impresa"));
    }

    #[test]
    fn oversized_messages_are_refused() {
        let mut m = mail(&["ana@x.mx"]);
        m.attachments[0].bytes = vec![b'x'; MAX_MESSAGE_BYTES];
        assert!(matches!(m.to_mime(&sender(), "id@c", Utc::now()), Err(MailError::TooLarge(_))));
    }
}
