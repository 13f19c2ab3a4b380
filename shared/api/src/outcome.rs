//! What became of one student of a batch — issue, cancel, email, bulk
//! grades — or of one document of an upload: a typed status, the problems
//! in Spanish with their codes, and whether the same attempt can succeed
//! later as it is.

use certifica_core::records::CertificateRecord;
use serde::{Deserialize, Serialize};

/// Where one student (or document) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Stamped: the certificate is valid.
    Timbrado,
    /// Sealed, waiting for the authority (semi-electronic, or no credits left).
    Sellado,
    /// Cancelled.
    Cancelado,
    /// The certificate was mailed.
    Enviado,
    /// The grades were applied.
    Aplicado,
    /// Refused before anything was done: correct what the problems say.
    Rechazado,
    /// Nothing to do: already done, or another request is doing it.
    Omitido,
    /// The authority refused or failed: the certificate shows its message.
    Error,
}

impl Status {
    /// The word the API answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Timbrado => "timbrado",
            Status::Sellado => "sellado",
            Status::Cancelado => "cancelado",
            Status::Enviado => "enviado",
            Status::Aplicado => "aplicado",
            Status::Rechazado => "rechazado",
            Status::Omitido => "omitido",
            Status::Error => "error",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status is the word the API answers for it.
impl PartialEq<&str> for Status {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Whether trying the same student again, unchanged, can give another answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Retry {
    /// It would end the same: it is done, or something must be corrected first.
    #[default]
    Pointless,
    /// Later it can succeed as it is: the authority or storage was
    /// unavailable, or another attempt holds the certificate right now.
    Later,
}

/// One problem of a student, with its stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudentProblem {
    pub code: String,
    /// In Spanish: what is wrong and what to do.
    pub detail: String,
}

impl StudentProblem {
    pub fn new(code: impl Into<String>, detail: impl Into<String>) -> Self {
        StudentProblem { code: code.into(), detail: detail.into() }
    }
}

/// What became of one student.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub matricula: String,
    pub status: Status,
    /// The certificate as it ended, when there is one.
    pub certificate: Option<CertificateRecord>,
    /// Why it was not done, in order (empty when it was).
    pub problems: Vec<StudentProblem>,
    pub retry: Retry,
    /// The student's record version after a grade change.
    pub version: Option<u64>,
}

impl Outcome {
    /// Done: `status` with no problem.
    pub fn done(matricula: &str, status: Status, certificate: Option<CertificateRecord>) -> Self {
        Outcome {
            matricula: matricula.to_string(),
            status,
            certificate,
            problems: Vec::new(),
            retry: Retry::Pointless,
            version: None,
        }
    }

    /// Not done, for these reasons.
    pub fn refused(matricula: &str, status: Status, problems: Vec<StudentProblem>) -> Self {
        Outcome { problems, ..Outcome::done(matricula, status, None) }
    }

    /// Not done, for one reason.
    pub fn one(matricula: &str, status: Status, code: &str, detail: impl Into<String>) -> Self {
        Outcome::refused(matricula, status, vec![StudentProblem::new(code, detail)])
    }

    pub fn with_certificate(mut self, certificate: CertificateRecord) -> Self {
        self.certificate = Some(certificate);
        self
    }

    pub fn retry_later(mut self) -> Self {
        self.retry = Retry::Later;
        self
    }

    /// The first problem, when there is one.
    pub fn problem(&self) -> Option<&StudentProblem> {
        self.problems.first()
    }
}

impl From<crate::Problem> for StudentProblem {
    fn from(p: crate::Problem) -> Self {
        StudentProblem::new(p.code, p.detail)
    }
}

/// A storage failure while handling one student is that student's problem.
impl From<certifica_core::ports::StoreError> for StudentProblem {
    fn from(e: certifica_core::ports::StoreError) -> Self {
        StudentProblem::new(e.code(), e.to_string())
    }
}

impl From<certifica_core::mail::MailError> for StudentProblem {
    fn from(e: certifica_core::mail::MailError) -> Self {
        StudentProblem::new(e.code(), e.to_string())
    }
}
