//! The issuing pipeline, in domain terms: check the rules, build the Dec
//! document and seal it. Stamping (through a [`crate::stamping::Stamper`]),
//! storage and credits are orchestrated by the callers that own them.

use crate::cadena::{normalize_space, signed_values};
use crate::curp::Curp;
use crate::document::{self, CertificateInput, Dec, parse_date_time};
use crate::efirma::{Efirma, SignerCertificate};
use crate::model::{Responsable, School};
use crate::rules::{AcademicSummary, IssueContext, IssueProblem, check_before_issue};
use crate::sello::{SealError, seal};
use crate::stamping::{LocalAuthority, StampError, Stamped};

/// A sealed certificate, ready for the authority.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub dec: Dec,
    pub xml: String,
    pub cadena_original: String,
    pub summary: AcademicSummary,
}

/// Why a certificate could not be sealed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IssueError {
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Rules(Vec<IssueProblem>),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Stamp(#[from] StampError),
}

/// Checks every rule, builds the document and seals it with the signer's e.firma.
pub fn seal_certificate(ctx: &IssueContext<'_>, school: &School, folio_control: &str) -> Result<Sealed, IssueError> {
    let summary = check_before_issue(ctx).map_err(IssueError::Rules)?;
    let Some((responsable, efirma)) = ctx.signer else {
        return Err(IssueError::Rules(vec![IssueProblem::SignerMissing]));
    };
    seal_checked(ctx, school, responsable, efirma, summary, folio_control)
}

fn seal_checked(
    ctx: &IssueContext<'_>,
    school: &School,
    responsable: &Responsable,
    efirma: &Efirma,
    summary: AcademicSummary,
    folio_control: &str,
) -> Result<Sealed, IssueError> {
    let mut dec = build(ctx, school, responsable, &summary, folio_control);
    let cadena_original = seal(&mut dec, efirma)?;
    Ok(Sealed { xml: dec.to_xml(), dec, cadena_original, summary })
}

/// AUTONOMO: the university's own signed document is final, so issuing seals
/// and stamps in one step with the institution's own authority node; there is
/// no separate Sellado state.
pub fn seal_and_stamp_autonomo(
    ctx: &IssueContext<'_>,
    school: &School,
    folio_control: &str,
    own_node: &LocalAuthority,
) -> Result<(Sealed, Stamped), IssueError> {
    let sealed = seal_certificate(ctx, school, folio_control)?;
    let stamped = own_node.authenticate(&sealed.xml)?;
    Ok((sealed, stamped))
}

/// Why a document sealed offline does not match the records.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OfflineSealError {
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Rules(Vec<IssueProblem>),
    #[error("el documento no tiene fecha de expedición válida")]
    NoIssueDate,
    #[error(
        "el documento no coincide con los datos registrados del alumno: dice «{found}» donde los registros dicen «{expected}»; \
         exporte de nuevo los datos para sellar y vuelva a sellar"
    )]
    Differs { expected: String, found: String },
}

impl OfflineSealError {
    pub fn code(&self) -> &'static str {
        match self {
            OfflineSealError::Rules(problems) => problems.first().map_or("reglas", IssueProblem::code),
            OfflineSealError::NoIssueDate => "fecha_expedicion_invalida",
            OfflineSealError::Differs { .. } => "documento_distinto",
        }
    }
}

/// The unsealed document of a certificate to be sealed offline (`certifica
/// sign`): every rule checked except the signer's key, which the server
/// does not hold.
pub fn unsealed_document(
    ctx: &IssueContext<'_>,
    school: &School,
    responsable: &Responsable,
    folio_control: &str,
) -> Result<Dec, Vec<IssueProblem>> {
    let summary = check_without_key(ctx)?;
    Ok(build(ctx, school, responsable, &summary, folio_control))
}

/// The unsealed document of `ctx`'s student, as the records say it.
fn build(
    ctx: &IssueContext<'_>,
    school: &School,
    responsable: &Responsable,
    summary: &AcademicSummary,
    folio_control: &str,
) -> Dec {
    document::build(&CertificateInput {
        institution: ctx.institution,
        school,
        plan: ctx.plan,
        student: ctx.student,
        responsable,
        summary,
        issue_date: ctx.issue_date,
        folio_control: folio_control.to_string(),
    })
}

fn check_without_key(ctx: &IssueContext<'_>) -> Result<AcademicSummary, Vec<IssueProblem>> {
    // The context carries no e.firma; its absence is not a problem here.
    let without_signer = IssueContext { signer: None, ..*ctx };
    match check_before_issue(&without_signer) {
        Ok(summary) => Ok(summary),
        Err(problems) => {
            let rest: Vec<IssueProblem> =
                problems.into_iter().filter(|p| !matches!(p, IssueProblem::SignerMissing)).collect();
            if rest.is_empty() { Ok(crate::rules::summarize(ctx.plan, ctx.student)) } else { Err(rest) }
        }
    }
}

/// Checks a document sealed offline against the records: the rules hold on
/// its issue date (the signer's certificate, valid that day and issued to
/// the responsable, in place of the key), and every signed value is what the
/// records say — the document rebuilt with the uploaded folio and date has
/// the same values ([`first_difference`]) — so nothing (a grade, a name) was
/// changed between export and upload. The seal itself is checked by
/// [`crate::verify`]; the document is kept byte for byte as sealed.
pub fn check_offline_sealed(
    ctx: &IssueContext<'_>,
    school: &School,
    responsable: &Responsable,
    certificate: &SignerCertificate,
    uploaded: &Dec,
) -> Result<AcademicSummary, OfflineSealError> {
    let issue_date = uploaded.issue_date().ok_or(OfflineSealError::NoIssueDate)?;
    let ctx = IssueContext { issue_date, ..*ctx };
    let mut problems = Vec::new();
    match Curp::parse(&responsable.curp) {
        Err(e) => problems.push(IssueProblem::InvalidSignerCurp(e)),
        Ok(curp) => {
            if let Err(e) = certificate.check_usable(issue_date, &curp) {
                problems.push(IssueProblem::Signer(e));
            }
        }
    }
    let expected = match unsealed_document(&ctx, school, responsable, &uploaded.folio_control) {
        Ok(dec) => Some(dec),
        Err(rules) => {
            problems.extend(rules);
            None
        }
    };
    if !problems.is_empty() {
        return Err(OfflineSealError::Rules(problems));
    }
    let Some(mut expected) = expected else { return Err(OfflineSealError::Rules(problems)) };
    expected.no_certificado_responsable = uploaded.no_certificado_responsable.clone();
    expected.certificado_responsable = uploaded.certificado_responsable.clone();
    match first_difference(&expected, uploaded) {
        None => Ok(crate::rules::summarize(ctx.plan, ctx.student)),
        Some((expected, found)) => Err(OfflineSealError::Differs { expected, found }),
    }
}

/// The first signed value where `found` says something else than
/// `expected` (the document the records give), as «name: value» pairs;
/// `None` when they agree. Judged by value, not by how it is written —
/// other software seals these documents too: decimals as numbers (`5` is
/// `5.00`), dates by their date (the time of day is the signer's), text
/// after normalize-space.
pub fn first_difference(expected: &Dec, found: &Dec) -> Option<(String, String)> {
    let (want, got) = (signed_values(expected), signed_values(found));
    if want.len() != got.len() {
        let subjects = |d: &Dec| format!("{} asignaturas", d.asignatura.len());
        return Some((subjects(expected), subjects(found)));
    }
    want.into_iter().zip(got).find(|((name, a), (_, b))| !same_value(name, a, b)).map(|((name, a), (_, b))| {
        (format!("{name}: {}", normalize_space(a)), format!("{name}: {}", normalize_space(b)))
    })
}

fn same_value(field: &str, a: &str, b: &str) -> bool {
    let (a, b) = (normalize_space(a), normalize_space(b));
    if a == b {
        return true;
    }
    let leaf = field.rsplit('/').next().unwrap_or(field);
    if leaf.starts_with("fecha") {
        return parse_date_time(&a).is_some_and(|d| parse_date_time(&b) == Some(d));
    }
    if NUMERIC_VALUES.contains(&leaf) {
        return canonical_decimal(&a).is_some_and(|x| canonical_decimal(&b) == Some(x));
    }
    false
}

/// Signed values that are numbers (grades, credits, averages, counts).
const NUMERIC_VALUES: [&str; 11] = [
    "calificacionMinima",
    "calificacionMaxima",
    "calificacionMinimaAprobatoria",
    "total",
    "asignadas",
    "promedio",
    "totalCreditos",
    "creditosObtenidos",
    "numeroCiclos",
    "calificacion",
    "creditos",
];

/// A plain decimal (`05.50`) written one way (`5.5`), exactly; `None` for
/// anything else (signs, exponents, text like «AC»).
fn canonical_decimal(text: &str) -> Option<String> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || (text.contains('.') && frac.is_empty()) {
        return None;
    }
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    Some(if frac.is_empty() { int.to_string() } else { format!("{int}.{frac}") })
}
