//! The institution's configuration: itself, its schools, cycles, plans and signers.

use super::DynamoRecords;
use super::keys::esc;
use certifica_core::model::{Institution, Plan, School};
use certifica_core::ports::{InstitutionStore, StoreError, StoreResult};
use certifica_core::records::{Cycle, SignerConfig, Tenant};

impl InstitutionStore for DynamoRecords {
    async fn put_institution(&self, t: &Tenant, institution: &Institution) -> StoreResult<()> {
        if institution.id != t.id() {
            return Err(StoreError::Invalid(format!("la institución {} no es la del usuario", institution.id)));
        }
        self.put_config(t, "INSTITUTION", institution).await
    }

    async fn institution(&self, t: &Tenant) -> StoreResult<Option<Institution>> {
        self.get_config(t, "INSTITUTION").await
    }

    async fn put_school(&self, t: &Tenant, school: &School) -> StoreResult<()> {
        if school.institution_id != t.id() {
            return Err(StoreError::Invalid(format!("la escuela {} es de otra institución", school.id)));
        }
        self.put_config(t, &format!("SCHOOL#{}", esc(&school.id)), school).await
    }

    async fn school(&self, t: &Tenant, school_id: &str) -> StoreResult<Option<School>> {
        self.get_config(t, &format!("SCHOOL#{}", esc(school_id))).await
    }

    async fn schools(&self, t: &Tenant) -> StoreResult<Vec<School>> {
        self.list_config(t, "SCHOOL#").await
    }

    async fn put_cycle(&self, t: &Tenant, cycle: &Cycle) -> StoreResult<()> {
        self.require_school(t, &cycle.school_id).await?;
        self.put_config(t, &format!("CYCLE#{}#{}", esc(&cycle.school_id), esc(&cycle.id)), cycle).await
    }

    async fn cycles(&self, t: &Tenant, school_id: &str) -> StoreResult<Vec<Cycle>> {
        self.list_config(t, &format!("CYCLE#{}#", esc(school_id))).await
    }

    async fn put_plan(&self, t: &Tenant, plan: &Plan) -> StoreResult<()> {
        self.require_school(t, &plan.school_id).await?;
        self.put_config(t, &format!("PLAN#{}#{}", esc(&plan.school_id), esc(&plan.id)), plan).await
    }

    async fn plan(&self, t: &Tenant, school_id: &str, plan_id: &str) -> StoreResult<Option<Plan>> {
        self.get_config(t, &format!("PLAN#{}#{}", esc(school_id), esc(plan_id))).await
    }

    async fn plans(&self, t: &Tenant, school_id: &str) -> StoreResult<Vec<Plan>> {
        self.list_config(t, &format!("PLAN#{}#", esc(school_id))).await
    }

    async fn put_signer(&self, t: &Tenant, signer: &SignerConfig) -> StoreResult<()> {
        self.require_school(t, &signer.school_id).await?;
        self.put_config(t, &format!("SIGNER#{}", esc(&signer.school_id)), signer).await
    }

    async fn signer(&self, t: &Tenant, school_id: &str) -> StoreResult<Option<SignerConfig>> {
        self.get_config(t, &format!("SIGNER#{}", esc(school_id))).await
    }
}
