//! Provisioning an institution from the example file in `infra/`: applied
//! twice it changes nothing new (a purchase is added once), and a file that
//! mixes institutions or has a bad id is refused before anything is written.

use certifica_api::provision::{ProvisionError, Provisioning, provision};
use certifica_core::ports::{CreditStore, InstitutionStore};
use certifica_core::records::{Actor, Tenant};
use certifica_local::LocalRecords;

fn example() -> Provisioning {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/institucion-ejemplo.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn the_example_file_provisions_once() {
    let dir = tempfile::tempdir().unwrap();
    let records = LocalRecords::open(&dir.path().join("db")).unwrap();
    let by = Actor::new("operador", "alta-1");
    let first = provision(&records, &example(), &by).await.unwrap();
    assert_eq!((first.schools, first.cycles, first.credits_added, first.credits_available), (1, 1, 500, 500));
    let t = Tenant::from_verified_identity("uva");
    assert_eq!(records.institution(&t).await.unwrap().unwrap().name, "Universidad del Valle de Anáhuac");
    assert_eq!(records.cycles(&t, "norte").await.unwrap()[0].name, "2025-2026");
    let again = provision(&records, &example(), &Actor::new("operador", "alta-2")).await.unwrap();
    assert_eq!((again.credits_added, again.credits_available), (0, 500), "the same purchase is not added twice");
    let mut more = example();
    more.credit_purchase.as_mut().unwrap().reference = "FAC-2026-0002".into();
    more.credit_purchase.as_mut().unwrap().amount = 100;
    assert_eq!(provision(&records, &more, &by).await.unwrap().credits_available, 600);
    assert_eq!(records.ledger(&t, None).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_wrong_file_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let records = LocalRecords::open(&dir.path().join("db")).unwrap();
    let by = Actor::new("operador", "alta");
    let mut mixed = example();
    mixed.schools[0].institution_id = "otra".into();
    assert!(matches!(provision(&records, &mixed, &by).await, Err(ProvisionError::SchoolOfAnother { .. })));
    let mut bad = example();
    bad.institution.id = "inbox".into();
    assert!(matches!(provision(&records, &bad, &by).await, Err(ProvisionError::InstitutionId(_))));
    assert!(records.institution(&Tenant::from_verified_identity("uva")).await.unwrap().is_none());
}
