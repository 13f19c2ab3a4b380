//! Loading SAT e.firma files: both key encryptions, and each distinct refusal.

mod common;

use certifica_core::curp::Curp;
use certifica_core::efirma::{Efirma, EfirmaError, SignerCertificate};
use common::*;

fn read(p: &std::path::Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[test]
fn keys_encrypted_with_3des_and_with_aes_both_load() {
    let f = fixtures();
    for m in [&f.des3, &f.aes] {
        let e = Efirma::load(&read(&m.cer), &read(&m.key), &read(&m.password)).unwrap();
        assert_eq!(e.certificate().subject_curp(), Some(SIGNER_CURP));
        assert!(e.certificate().number().sat_format);
        assert_eq!(e.certificate().number().value.len(), 20);
    }
}

#[test]
fn the_certificate_reports_its_number_validity_and_curp() {
    let c = SignerCertificate::from_der(&read(&fixtures().expired.cer)).unwrap();
    assert_eq!(c.number().value, "00001000000500000003");
    assert_eq!(c.not_before().date_naive(), date("2017-01-01"));
    assert_eq!(c.not_after().date_naive(), date("2021-01-01"));
    assert_eq!(c.subject_curp(), Some(SIGNER_CURP));
    assert_eq!(c.subject_name(), "MARÍA CRISTINA GÓMEZ RUIZ");
}

#[test]
fn a_wrong_password_is_named_as_such() {
    let m = &fixtures().des3;
    assert_eq!(Efirma::load(&read(&m.cer), &read(&m.key), b"otra").unwrap_err(), EfirmaError::WrongPassword);
    let m = &fixtures().aes;
    assert_eq!(Efirma::load(&read(&m.cer), &read(&m.key), b"").unwrap_err(), EfirmaError::WrongPassword);
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let f = fixtures();
    let err = Efirma::load(&read(&f.des3.cer), &read(&f.other.key), &read(&f.other.password)).unwrap_err();
    assert_eq!(err, EfirmaError::KeyDoesNotMatch);
}

#[test]
fn files_that_are_not_a_certificate_or_a_key_are_refused() {
    let f = fixtures();
    let (cer, key, pw) = (read(&f.des3.cer), read(&f.des3.key), read(&f.des3.password));
    assert_eq!(Efirma::load(b"hola", &key, &pw).unwrap_err(), EfirmaError::NotACertificate);
    assert_eq!(Efirma::load(&key, &key, &pw).unwrap_err(), EfirmaError::NotACertificate);
    assert_eq!(Efirma::load(&cer, &cer, &pw).unwrap_err(), EfirmaError::NotAKey);
    assert_eq!(Efirma::load(&cer, b"", &pw).unwrap_err(), EfirmaError::NotAKey);
}

#[test]
fn validity_on_the_issue_date_and_the_responsable_curp_are_checked() {
    let f = fixtures();
    let signer = Curp::parse(SIGNER_CURP).unwrap();
    let other = Curp::parse(OTHER_CURP).unwrap();
    let expired = f.expired.load();
    assert!(matches!(expired.check_usable(date("2026-07-15"), &signer), Err(EfirmaError::NotValidOn { .. })));
    assert!(expired.check_usable(date("2020-06-30"), &signer).is_ok());
    let good = f.aes.load();
    assert!(good.check_usable(date("2026-07-15"), &signer).is_ok());
    assert!(matches!(good.check_usable(date("2023-12-31"), &signer), Err(EfirmaError::NotValidOn { .. })));
    assert!(matches!(good.check_usable(date("2026-07-15"), &other), Err(EfirmaError::CurpMismatch { .. })));
    let msg = good.check_usable(date("2026-07-15"), &other).unwrap_err().to_string();
    assert!(msg.contains(SIGNER_CURP) && msg.contains(OTHER_CURP), "{msg}");
}
