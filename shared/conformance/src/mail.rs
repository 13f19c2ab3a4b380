//! `Mailer`: one message with attachments reaches every recipient.

use certifica_core::mail::{Attachment, Mail, MailError, Sender};
use certifica_core::ports::Mailer;

// ------------------------------------------------------------------- mail
/// A message as the mail service recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The envelope recipients.
    pub recipients: Vec<String>,
    /// The whole MIME message.
    pub raw: Vec<u8>,
}

/// A certificate mail with the XML and the PDF attached, to the student's two addresses.
pub fn certificate_mail() -> Mail {
    Mail {
        to: vec!["ana.ruiz@correo.mx".into(), "a0042@alumnos.uva.edu.mx".into()],
        subject: "Tu certificado electrónico de estudios — Universidad del Valle".into(),
        text: "Hola, Ana:\n\nAdjuntamos tu certificado electrónico de estudios (XML) y su representación impresa (PDF).\n\nControl Escolar".into(),
        attachments: vec![
            Attachment {
                filename: "certificado-A0042.xml".into(),
                content_type: "application/xml".into(),
                bytes: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Dec version=\"3.0\">Núñez</Dec>\n".as_bytes().to_vec(),
            },
            Attachment {
                filename: "certificado-A0042.pdf".into(),
                content_type: "application/pdf".into(),
                bytes: (0..=255u8).cycle().take(5000).collect(),
            },
        ],
        reply_to: Some("control.escolar@uva.edu.mx".into()),
    }
}

/// A mail with attachments reaches every recipient whole (read back from
/// where the mailer delivers: `delivered` lists every message so far); a
/// mail that cannot be sent is refused before anything is delivered.
pub async fn a_mail_with_attachments_reaches_every_recipient<M: Mailer>(
    m: &M,
    sender: &Sender,
    delivered: impl AsyncFn() -> Vec<Delivered>,
) {
    let before = delivered().await.len();
    let mut bad = certificate_mail();
    bad.to.push("sin arroba".into());
    assert_eq!(m.send(&bad).await, Err(MailError::InvalidAddress("sin arroba".into())));
    let mut nobody = certificate_mail();
    nobody.to.clear();
    assert_eq!(m.send(&nobody).await, Err(MailError::NoRecipients));
    assert_eq!(delivered().await.len(), before, "a refused mail delivers nothing");

    let mail = certificate_mail();
    let sent = m.send(&mail).await.expect("send");
    assert!(!sent.message_id.is_empty());
    let all = delivered().await;
    assert_eq!(all.len(), before + 1);
    let got = all.last().expect("one message");
    let mut recipients = got.recipients.clone();
    recipients.sort();
    assert_eq!(recipients, ["a0042@alumnos.uva.edu.mx", "ana.ruiz@correo.mx"]);
    let parsed = mail_parser::MessageParser::default().parse(&got.raw).expect("a MIME message");
    assert_eq!(parsed.subject(), Some(mail.subject.as_str()));
    let from = parsed.from().and_then(|f| f.first()).expect("from");
    assert_eq!((from.name(), from.address()), (Some(sender.name.as_str()), Some(sender.address.as_str())));
    let to: Vec<&str> = parsed.to().map(|t| t.iter().filter_map(|a| a.address()).collect()).unwrap_or_default();
    assert_eq!(to, ["ana.ruiz@correo.mx", "a0042@alumnos.uva.edu.mx"]);
    assert_eq!(parsed.reply_to().and_then(|r| r.first()).and_then(|a| a.address()), Some("control.escolar@uva.edu.mx"));
    // MIME lines end in CRLF.
    let body = parsed.body_text(0).map(|b| b.replace("\r\n", "\n"));
    assert_eq!(body.as_deref().map(str::trim_end), Some(mail.text.as_str()));
    use mail_parser::MimeHeaders;
    let attachments: Vec<(String, Vec<u8>)> = parsed
        .attachments()
        .map(|a| (a.attachment_name().unwrap_or_default().to_string(), a.contents().to_vec()))
        .collect();
    let expected: Vec<(String, Vec<u8>)> =
        mail.attachments.iter().map(|a| (a.filename.clone(), a.bytes.clone())).collect();
    assert_eq!(attachments, expected, "attachments arrive byte for byte");
}
