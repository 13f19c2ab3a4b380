//! Provisioning an institution: an operator's task, not an API route. One
//! JSON file names the institution, its schools and cycles, and a purchase
//! of credits; `certifica provision` applies it to the deployment's table
//! (or a local data folder). Applying the same file again changes nothing
//! new: records are replaced by themselves and a purchase is added once
//! (by its reference).

use crate::Records;
use certifica_core::model::{Institution, School};
use certifica_core::ports::StoreError;
use certifica_core::records::{Actor, Cycle, IdempotencyState, Tenant};
use serde::{Deserialize, Serialize};

/// The file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Provisioning {
    pub institution: Institution,
    #[serde(default)]
    pub schools: Vec<School>,
    #[serde(default)]
    pub cycles: Vec<CycleSpec>,
    pub credit_purchase: Option<CreditPurchase>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CycleSpec {
    pub school: String,
    pub id: String,
    pub name: String,
}

/// Credits bought, identified by the purchase's reference (invoice, order).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreditPurchase {
    pub reference: String,
    pub amount: u64,
}

/// What applying did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Provisioned {
    pub institution: String,
    pub schools: usize,
    pub cycles: usize,
    /// Credits added now (0 when the purchase had been applied before).
    pub credits_added: u64,
    pub credits_available: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvisionError {
    #[error("el identificador de institución «{0}» no es válido (minúsculas, números y «-», hasta 40)")]
    InstitutionId(String),
    #[error("la escuela {school} dice pertenecer a «{said}», no a «{institution}»")]
    SchoolOfAnother { school: String, said: String, institution: String },
    #[error("el ciclo {cycle} es de la escuela «{school}», que no está en el archivo ni registrada")]
    UnknownSchool { cycle: String, school: String },
    #[error("la compra de créditos necesita una referencia y una cantidad mayor que cero")]
    Purchase,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn valid_id(id: &str) -> bool {
    (1..=40).contains(&id.len())
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        // These prefixes of the bucket hold the upload inbox, not a tenant.
        && !["inbox", "processed", "rejected"].contains(&id)
}

/// Applies `p`, in dependency order; `by` is recorded in the ledger.
pub async fn provision<R: Records>(records: &R, p: &Provisioning, by: &Actor) -> Result<Provisioned, ProvisionError> {
    let id = &p.institution.id;
    if !valid_id(id) {
        return Err(ProvisionError::InstitutionId(id.clone()));
    }
    for s in &p.schools {
        if &s.institution_id != id {
            return Err(ProvisionError::SchoolOfAnother {
                school: s.id.clone(),
                said: s.institution_id.clone(),
                institution: id.clone(),
            });
        }
    }
    if p.credit_purchase.as_ref().is_some_and(|c| c.reference.trim().is_empty() || c.amount == 0) {
        return Err(ProvisionError::Purchase);
    }
    let t = Tenant::from_verified_identity(id);
    records.put_institution(&t, &p.institution).await?;
    for s in &p.schools {
        records.put_school(&t, s).await?;
    }
    let known = records.schools(&t).await?;
    for c in &p.cycles {
        if !known.iter().any(|s| s.id == c.school) {
            return Err(ProvisionError::UnknownSchool { cycle: c.id.clone(), school: c.school.clone() });
        }
        records.put_cycle(&t, &Cycle { id: c.id.clone(), school_id: c.school.clone(), name: c.name.clone() }).await?;
    }
    let mut added = 0;
    if let Some(purchase) = &p.credit_purchase {
        let key = format!("compra-de-creditos:{}", purchase.reference.trim());
        // Remembered for ten years: a purchase is applied once.
        match records.begin(&t, &key, chrono::Duration::days(3653)).await? {
            IdempotencyState::Completed(_) => {}
            IdempotencyState::InProgress => return Err(StoreError::Conflict.into()),
            IdempotencyState::Started => match records.add_credits(&t, purchase.amount, by).await {
                Ok(balance) => {
                    records.complete(&t, &key, &balance.available.to_string(), chrono::Duration::days(3653)).await?;
                    added = purchase.amount;
                }
                Err(e) => {
                    records.abandon(&t, &key).await?;
                    return Err(e.into());
                }
            },
        }
    }
    Ok(Provisioned {
        institution: id.clone(),
        schools: p.schools.len(),
        cycles: p.cycles.len(),
        credits_added: added,
        credits_available: records.balance(&t).await?.available,
    })
}
