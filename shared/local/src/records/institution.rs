//! The institution's configuration: itself, its schools, cycles, plans and signers.

use super::{Cached, LocalRecords, bodies, unavailable};
use certifica_core::model::{Institution, Plan, School};
use certifica_core::ports::{InstitutionStore, StoreError, StoreResult};
use certifica_core::records::{Cycle, SignerConfig, Tenant};
use rusqlite::{Connection, params};

pub(super) fn put_config<T: serde::Serialize>(
    conn: &Connection,
    tenant: &Tenant,
    kind: &str,
    scope: &str,
    id: &str,
    value: &T,
) -> StoreResult<()> {
    conn.run(
        "INSERT OR REPLACE INTO config (tenant, kind, scope, id, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![tenant.id(), kind, scope, id, serde_json::to_string(value).map_err(unavailable)?],
    )
    .map_err(unavailable)?;
    Ok(())
}

pub(super) fn get_config<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    tenant: &Tenant,
    kind: &str,
    scope: &str,
    id: &str,
) -> StoreResult<Option<T>> {
    Ok(bodies(
        conn,
        "SELECT body FROM config WHERE tenant = ?1 AND kind = ?2 AND scope = ?3 AND id = ?4",
        params![tenant.id(), kind, scope, id],
    )?
    .pop())
}

pub(super) fn list_config<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    tenant: &Tenant,
    kind: &str,
    scope: &str,
) -> StoreResult<Vec<T>> {
    bodies(
        conn,
        "SELECT body FROM config WHERE tenant = ?1 AND kind = ?2 AND scope = ?3 ORDER BY id",
        params![tenant.id(), kind, scope],
    )
}

/// Refuses records of another institution and records of an unknown school.
pub(super) fn require_school(conn: &Connection, tenant: &Tenant, school_id: &str) -> StoreResult<()> {
    match get_config::<School>(conn, tenant, "school", "", school_id)? {
        Some(_) => Ok(()),
        None => Err(StoreError::NotFound(format!("la escuela {school_id}"))),
    }
}

impl InstitutionStore for LocalRecords {
    async fn put_institution(&self, tenant: &Tenant, institution: &Institution) -> StoreResult<()> {
        if institution.id != tenant.id() {
            return Err(StoreError::Invalid(format!("la institución {} no es la del usuario", institution.id)));
        }
        let (tenant, i) = (tenant.clone(), institution.clone());
        self.write(move |tx| put_config(tx, &tenant, "institution", "", "", &i)).await
    }

    async fn institution(&self, tenant: &Tenant) -> StoreResult<Option<Institution>> {
        let tenant = tenant.clone();
        self.read(move |conn| get_config(conn, &tenant, "institution", "", "")).await
    }

    async fn put_school(&self, tenant: &Tenant, school: &School) -> StoreResult<()> {
        if school.institution_id != tenant.id() {
            return Err(StoreError::Invalid(format!("la escuela {} es de otra institución", school.id)));
        }
        let (tenant, school) = (tenant.clone(), school.clone());
        self.write(move |tx| put_config(tx, &tenant, "school", "", &school.id, &school)).await
    }

    async fn school(&self, tenant: &Tenant, school_id: &str) -> StoreResult<Option<School>> {
        let (tenant, id) = (tenant.clone(), school_id.to_string());
        self.read(move |conn| get_config(conn, &tenant, "school", "", &id)).await
    }

    async fn schools(&self, tenant: &Tenant) -> StoreResult<Vec<School>> {
        let tenant = tenant.clone();
        self.read(move |conn| list_config(conn, &tenant, "school", "")).await
    }

    async fn put_cycle(&self, tenant: &Tenant, cycle: &Cycle) -> StoreResult<()> {
        let (tenant, cycle) = (tenant.clone(), cycle.clone());
        self.write(move |tx| {
            require_school(tx, &tenant, &cycle.school_id)?;
            put_config(tx, &tenant, "cycle", &cycle.school_id, &cycle.id, &cycle)
        })
        .await
    }

    async fn cycles(&self, tenant: &Tenant, school_id: &str) -> StoreResult<Vec<Cycle>> {
        let (tenant, school) = (tenant.clone(), school_id.to_string());
        self.read(move |conn| list_config(conn, &tenant, "cycle", &school)).await
    }

    async fn put_plan(&self, tenant: &Tenant, plan: &Plan) -> StoreResult<()> {
        let (tenant, plan) = (tenant.clone(), plan.clone());
        self.write(move |tx| {
            require_school(tx, &tenant, &plan.school_id)?;
            put_config(tx, &tenant, "plan", &plan.school_id, &plan.id, &plan)
        })
        .await
    }

    async fn plan(&self, tenant: &Tenant, school_id: &str, plan_id: &str) -> StoreResult<Option<Plan>> {
        let (tenant, school, plan) = (tenant.clone(), school_id.to_string(), plan_id.to_string());
        self.read(move |conn| get_config(conn, &tenant, "plan", &school, &plan)).await
    }

    async fn plans(&self, tenant: &Tenant, school_id: &str) -> StoreResult<Vec<Plan>> {
        let (tenant, school) = (tenant.clone(), school_id.to_string());
        self.read(move |conn| list_config(conn, &tenant, "plan", &school)).await
    }

    async fn put_signer(&self, tenant: &Tenant, signer: &SignerConfig) -> StoreResult<()> {
        let (tenant, signer) = (tenant.clone(), signer.clone());
        self.write(move |tx| {
            require_school(tx, &tenant, &signer.school_id)?;
            put_config(tx, &tenant, "signer", &signer.school_id, "", &signer)
        })
        .await
    }

    async fn signer(&self, tenant: &Tenant, school_id: &str) -> StoreResult<Option<SignerConfig>> {
        let (tenant, school) = (tenant.clone(), school_id.to_string());
        self.read(move |conn| get_config(conn, &tenant, "signer", &school, "")).await
    }
}
