//! `InstitutionStore`: the institution's configuration, per tenant.

use crate::fixtures::{fresh_tenant, institution, plan, school};
use certifica_core::catalogs::Cargo;
use certifica_core::model::Responsable;
use certifica_core::ports::{InstitutionStore, StoreError};
use certifica_core::records::{Cycle, SignerConfig};
use chrono::Utc;

pub async fn the_institution_schools_cycles_plans_and_signers_are_kept_per_tenant<S: InstitutionStore>(s: &S) {
    let (t, other) = (fresh_tenant("config"), fresh_tenant("config-b"));
    assert_eq!(s.institution(&t).await.expect("get"), None);
    s.put_institution(&t, &institution(&t)).await.expect("institution");
    assert_eq!(s.institution(&t).await.expect("get"), Some(institution(&t)));
    // The institution and its schools always belong to the caller's tenant.
    assert!(matches!(s.put_institution(&t, &institution(&other)).await, Err(StoreError::Invalid(_))));
    assert!(matches!(s.put_school(&t, &school(&other, "norte")).await, Err(StoreError::Invalid(_))));
    for id in ["sur", "norte"] {
        s.put_school(&t, &school(&t, id)).await.expect("school");
    }
    let ids: Vec<String> = s.schools(&t).await.expect("schools").into_iter().map(|x| x.id).collect();
    assert_eq!(ids, ["norte", "sur"]);
    // Records of an unknown school are refused rather than orphaned.
    let cycle = Cycle { id: "2026".into(), school_id: "oeste".into(), name: "2025-2026".into() };
    assert!(matches!(s.put_cycle(&t, &cycle).await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.put_plan(&t, &plan("oeste", "lae", 8)).await, Err(StoreError::NotFound(_))));
    for (id, name) in [("2026", "2025-2026"), ("2025", "2024-2025")] {
        s.put_cycle(&t, &Cycle { id: id.into(), school_id: "norte".into(), name: name.into() }).await.expect("cycle");
    }
    let cycles: Vec<String> = s.cycles(&t, "norte").await.expect("cycles").into_iter().map(|c| c.id).collect();
    assert_eq!(cycles, ["2025", "2026"]);
    assert!(s.cycles(&t, "sur").await.expect("cycles").is_empty());
    s.put_plan(&t, &plan("norte", "lae", 8)).await.expect("plan");
    let mut changed = plan("norte", "lae", 9);
    changed.subjects.pop();
    s.put_plan(&t, &changed).await.expect("plan replaced");
    s.put_plan(&t, &plan("norte", "ico", 10)).await.expect("plan");
    assert_eq!(s.plan(&t, "norte", "lae").await.expect("plan"), Some(changed));
    let plans: Vec<String> = s.plans(&t, "norte").await.expect("plans").into_iter().map(|p| p.id).collect();
    assert_eq!(plans, ["ico", "lae"]);
    let signer = SignerConfig {
        school_id: "norte".into(),
        responsable: Responsable {
            curp: "GOMC850412MDFRRR03".into(),
            nombre: "Carmen".into(),
            primer_apellido: "Gómez".into(),
            segundo_apellido: "Ruiz".into(),
            cargo: Cargo::ResponsableExpedicion,
        },
        certificate_number: "30001000000500003416".into(),
        cer_base64: "MIIB".into(),
        key_base64: "MIIE".into(),
        password_sealed: "sellada".into(),
        registered_by: "admin@uva.edu.mx".into(),
        registered_at: Utc::now(),
    };
    s.put_signer(&t, &signer).await.expect("signer");
    assert_eq!(s.signer(&t, "norte").await.expect("signer"), Some(signer.clone()));
    assert_eq!(s.signer(&t, "sur").await.expect("signer"), None);
    // Another institution sees none of it, even by the same ids.
    assert_eq!(s.institution(&other).await.expect("get"), None);
    assert!(s.schools(&other).await.expect("schools").is_empty());
    assert_eq!(s.school(&other, "norte").await.expect("school"), None);
    assert!(s.cycles(&other, "norte").await.expect("cycles").is_empty());
    assert_eq!(s.plan(&other, "norte", "lae").await.expect("plan"), None);
    assert_eq!(s.signer(&other, "norte").await.expect("signer"), None);
    assert!(matches!(s.put_signer(&other, &signer).await, Err(StoreError::NotFound(_))));
}
