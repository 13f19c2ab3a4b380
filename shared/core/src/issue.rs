//! The issuing pipeline, in domain terms: check the rules, build the Dec
//! document and seal it. Stamping (through a [`crate::stamping::Stamper`]),
//! storage and credits are orchestrated by the callers that own them.

use crate::document::{self, CertificateInput, Dec};
use crate::efirma::Efirma;
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
    let mut dec = document::build(&CertificateInput {
        institution: ctx.institution,
        school,
        plan: ctx.plan,
        student: ctx.student,
        responsable,
        summary: &summary,
        issue_date: ctx.issue_date,
        folio_control: folio_control.to_string(),
    });
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
