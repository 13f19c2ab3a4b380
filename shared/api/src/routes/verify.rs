//! `verify`: the public verification of a folio — valid, cancelled or
//! unknown, with the issuer and the holder's name partly masked.

use super::ok;
use crate::router::{self, Answer, Caller, Function, FunctionRoutes, Routes};
use crate::{Adapters, Api, Problem};
use bytes::Bytes;
use certifica_core::identity::Permission;
use certifica_core::ports::{CertificateStore, InstitutionStore, StudentStore};
use certifica_core::records::CertificateStatus;
use futures_util::future::BoxFuture;
use http::Request;
use serde_json::json;

/// The route of `verify` (public: no identity needed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub folio: String,
}

impl Routes for Route {
    fn of(route: router::Route) -> Option<Self> {
        match route {
            router::Route::Verify(r) => Some(r),
            _ => None,
        }
    }

    fn writes(&self) -> Option<(&str, Permission)> {
        None
    }

    fn answer<'a, X: Adapters>(self, api: &'a Api<X>, _: &'a Request<Bytes>, _: Caller<'a>) -> BoxFuture<'a, Answer> {
        Box::pin(async move { verify(&api.records, &self.folio).await })
    }
}

impl FunctionRoutes for Route {
    const FUNCTION: Function = Function::Verify;
}

/// "A** N**** R***": initials kept, the rest hidden.
fn mask_name(name: &str) -> String {
    name.split_whitespace()
        .map(|w| {
            let mut chars = w.chars();
            let first = chars.next().map(String::from).unwrap_or_default();
            first + &"*".repeat(chars.count())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn verify(records: &(impl CertificateStore + InstitutionStore + StudentStore), folio: &str) -> Answer {
    let well_formed =
        !folio.is_empty() && folio.len() <= 64 && folio.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !well_formed {
        return Err(Problem::bad_request("folio_invalido", format!("«{folio}» no tiene la forma de un folio digital")));
    }
    let Some((tenant, c)) = records.by_folio(folio).await? else {
        return Err(Problem::not_found("folio_desconocido", format!("no existe un certificado con el folio {folio}"))
            // problem+json's `status` is the HTTP status; the verdict has its own member.
            .with("verdict", json!("desconocido")));
    };
    let institution = records.institution(&tenant).await?;
    let school = records.school(&tenant, &c.school_id).await?;
    let holder = records.student(&tenant, &c.school_id, &c.cycle_id, &c.control_number).await?;
    let status = match c.status {
        CertificateStatus::Cancelado => "cancelado",
        CertificateStatus::Timbrado => "valido",
        // A folio exists only once stamped; anything else is not a valid certificate.
        _ => "desconocido",
    };
    ok(json!({
        "status": status,
        "folioDigital": folio,
        "institution": institution.map(|i| i.name),
        "school": school.map(|s| s.name),
        "holder": holder.map(|h| mask_name(&h.student.full_name())),
        "issueDate": c.issue_date,
        "cancelledAt": c.cancellation.as_ref().map(|x| x.at),
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_masked_to_initials() {
        assert_eq!(super::mask_name("Ana  Núñez Ruiz"), "A** N**** R***");
    }
}
