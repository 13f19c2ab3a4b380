//! The simulated authority and the autonomous institution's own node.

mod common;

use certifica_core::catalogs::Cargo;
use certifica_core::document::Dec;
use certifica_core::model::InstitutionType;
use certifica_core::stamping::{
    AuthoritySigner, Failure, LocalAuthority, StampError, Stamper, simulated_sep_certificate,
};
use certifica_core::verify::verify;
use common::*;

fn sealed_xml(material: &Material, issue_date: &str) -> String {
    seal_sample(5, &material.load(), issue_date).xml
}

#[test]
fn the_simulated_authority_appends_its_nodes_with_a_uuid_folio() {
    let authority = LocalAuthority::simulated_sep().unwrap();
    let sealed = sealed_xml(&fixtures().des3, "2026-07-15");
    let stamped = authority.authenticate(&sealed).unwrap();
    let dec = Dec::parse(&stamped.xml).unwrap();
    let (dreoe, sep) = (dec.dreoe.as_ref().unwrap(), dec.sep_ipes.as_ref().unwrap());
    assert_eq!(dreoe.sello_dec, dec.sello);
    assert_eq!(sep.folio_digital, stamped.folio_digital);
    assert!(uuid::Uuid::parse_str(&stamped.folio_digital).is_ok());
    assert_eq!(sep.no_certificado_sep_ipes, "00001000000900000001");
    // The school's document is kept as it was; the nodes are appended after it.
    let end = sealed.find("</Dec>").unwrap();
    assert_eq!(&stamped.xml[..end], &sealed[..end]);
    let report = verify(&stamped.xml, &[simulated_sep_certificate().unwrap()]);
    assert!(report.valid && report.stamped, "{:#?}", report.checks);
    assert_eq!(report.folio_digital.as_deref(), Some(stamped.folio_digital.as_str()));
}

#[test]
fn a_document_is_authenticated_once_and_each_document_gets_its_own_folio() {
    let authority = LocalAuthority::simulated_sep().unwrap();
    let sealed = sealed_xml(&fixtures().des3, "2026-07-15");
    let a = authority.authenticate(&sealed).unwrap();
    // Submitted again (an attempt that lost the answer): the same authentication.
    assert_eq!(authority.authenticate(&sealed).unwrap(), a);
    // A simulator that forgot (restarted) still gives that document the same folio.
    let restarted = LocalAuthority::simulated_sep().unwrap();
    assert_eq!(restarted.authenticate(&sealed).unwrap().folio_digital, a.folio_digital);
    // Another document (another date, so another sello), another folio.
    let other = authority.authenticate(&sealed_xml(&fixtures().des3, "2026-07-16")).unwrap();
    assert_ne!(other.folio_digital, a.folio_digital);
    // The same values under another folio de control (a student's next certificate): another folio.
    let next = sealed.replace("folioControl=\"", "folioControl=\"2-");
    assert_ne!(next, sealed);
    assert_ne!(authority.authenticate(&next).unwrap().folio_digital, a.folio_digital);
}

#[test]
fn it_refuses_what_the_authority_would_refuse() {
    let authority = LocalAuthority::simulated_sep().unwrap();
    let sealed = sealed_xml(&fixtures().des3, "2026-07-15");
    let code = |r: Result<_, StampError>| match r {
        Err(StampError::Rejected { code, .. }) => code,
        other => panic!("expected a rejection, got {other:?}"),
    };
    // Bad seal: a value changed after sealing.
    assert_eq!(code(authority.authenticate(&sealed.replace("José Ángel", "José Luis"))), "SELLO");
    // Not sealed at all.
    let mut unsealed = Dec::parse(&sealed).unwrap();
    unsealed.sello.clear();
    assert_eq!(code(authority.authenticate(&unsealed.to_xml())), "SIN_SELLO");
    // Malformed.
    assert_eq!(code(authority.authenticate("<Dec>")), "ESTRUCTURA");
    // Already stamped.
    let stamped = authority.authenticate(&sealed).unwrap();
    assert_eq!(code(authority.authenticate(&stamped.xml)), "DUPLICADO");
    // Certificate not valid on the issue date (sealed with an expired e.firma,
    // bypassing the rules the product applies before sealing).
    let expired = fixtures().expired.load();
    let mut dec = Dec::parse(&sealed).unwrap();
    certifica_core::sello::seal(&mut dec, &expired).unwrap();
    assert_eq!(code(authority.authenticate(&dec.to_xml())), "VIGENCIA");
}

#[test]
fn it_can_be_told_to_be_unavailable_or_to_reject() {
    let authority = LocalAuthority::simulated_sep().unwrap();
    let sealed = sealed_xml(&fixtures().aes, "2026-07-15");
    authority.fail_next(Failure::Unavailable);
    authority.fail_next(Failure::Reject("Lote rechazado por mantenimiento de catálogos".into()));
    let first = authority.authenticate(&sealed).unwrap_err();
    assert!(first.is_transient());
    let second = authority.authenticate(&sealed).unwrap_err();
    assert!(!second.is_transient());
    assert!(second.to_string().contains("mantenimiento de catálogos"));
    assert!(authority.authenticate(&sealed).is_ok(), "failures are consumed one per call");
}

#[test]
fn a_failure_told_for_one_institution_fails_only_its_documents() {
    let authority = LocalAuthority::simulated_sep().unwrap();
    let sealed = sealed_xml(&fixtures().aes, "2026-07-15");
    let ours = Dec::parse(&sealed).unwrap().ipes.id_nombre_institucion;
    authority.fail_next_for("999999", Failure::Unavailable);
    assert!(authority.authenticate(&sealed).is_ok(), "another institution's failure does not touch this document");
    let other = sealed_xml(&fixtures().aes, "2026-07-14");
    authority.fail_next_for(&ours, Failure::Unavailable);
    assert!(authority.authenticate(&other).unwrap_err().is_transient(), "its own institution's failure applies");
}

#[test]
fn the_stamper_port_is_served_by_the_simulator() {
    let authority = LocalAuthority::simulated_sep().unwrap();
    let sealed = sealed_xml(&fixtures().des3, "2026-07-15");
    // The simulator's future completes immediately; poll it once.
    let fut = authority.stamp(&sealed);
    let mut fut = std::pin::pin!(fut);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => assert!(r.is_ok()),
        std::task::Poll::Pending => panic!("the simulator does not wait"),
    }
}

#[test]
fn an_autonomous_university_seals_and_stamps_with_its_own_node() {
    let mut inst = institution();
    inst.kind = InstitutionType::Autonomo;
    let node = LocalAuthority::institution_node(
        fixtures().aes.load(),
        AuthoritySigner {
            curp: SIGNER_CURP.into(),
            nombre_completo: "MARÍA CRISTINA GÓMEZ RUIZ".into(),
            cargo: Cargo::Rector,
        },
    );
    let sealed = sealed_xml(&fixtures().aes, "2026-07-15");
    let stamped = node.authenticate(&sealed).unwrap();
    let trusted = [node.certificate().clone()];
    assert!(verify(&stamped.xml, &trusted).valid);
    assert!(!verify(&stamped.xml, &[simulated_sep_certificate().unwrap()]).valid, "the SEP simulator did not stamp it");
}
