//! The handlers, one module per Lambda function (named after it). Each
//! module has its route enum ([`crate::router::Route`] holds one per
//! function) and its handlers: parse the request → call the use case or the
//! ports → map to HTTP.
//!
//! | module | function | routes |
//! |---|---|---|
//! | [`list`] | `list-certificates` | schools, cycles, plans, the students table, "Ver datos", jobs and their results |
//! | [`manage`] | `manage-records` | plans, student imports, grade edits, bulk grades |
//! | [`issue`] | `issue-certificates` | the signer, issuing, preview, the sealed and unsealed exports, cancelling a job |
//! | [`cancel`] | `cancel-certificates` | cancelling Timbrado certificates |
//! | [`download`] | `download-certificates` | one certificate's XML or PDF, a cycle's zip |
//! | [`email`] | `email-certificates` | mailing certificates |
//! | [`verify`] | `verify` | the public verification of a folio |

pub mod cancel;
pub mod download;
pub mod email;
pub mod issue;
pub mod list;
pub mod manage;
pub mod verify;

use crate::outcome::Outcome;
use crate::problem::json_response;
use crate::router::Answer;
use certifica_core::records::CertificateRecord;
use http::StatusCode;
use serde_json::{Value, json};

fn ok(value: Value) -> Answer {
    Ok(json_response(StatusCode::OK, &value))
}

/// A certificate as the API shows it.
pub(crate) fn certificate_json(c: &CertificateRecord) -> Value {
    json!({
        "id": c.id,
        "status": c.status.as_str(),
        "statusLabel": c.status.label(),
        "folioControl": c.folio_control,
        "folioDigital": c.folio_digital,
        "issueDate": c.issue_date,
        "stampedAt": c.stamped_at,
        "gradesEdited": c.grades_edited,
        "lastError": c.last_error,
        "cancellation": c.cancellation.as_ref().map(|x| json!({
            "motive": x.motive.code(),
            "motiveLabel": x.motive.label(),
            "reason": x.reason,
            "by": certifica_core::records::shown(&x.by, x.by_email.as_deref()),
            "actor": x.by,
            "at": x.at,
        })),
        "version": c.version,
    })
}

/// A student's result in the answer of cancel and email: done or not, and why.
fn done_or_why(outcome: &Outcome, done: crate::outcome::Status) -> Value {
    let problem = outcome.problem();
    json!({
        "matricula": outcome.matricula,
        "ok": outcome.status == done,
        "code": problem.map(|p| p.code.as_str()),
        "detail": problem.map(|p| p.detail.as_str()),
    })
}
