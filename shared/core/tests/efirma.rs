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
    // Valid from 2024-01-01 00:00 UTC: the evening of 2023-12-31 in Mexico, whose calendar issue dates are in.
    assert!(good.check_usable(date("2023-12-31"), &signer).is_ok());
    assert!(matches!(good.check_usable(date("2023-12-30"), &signer), Err(EfirmaError::NotValidOn { .. })));
    assert!(matches!(good.check_usable(date("2026-07-15"), &other), Err(EfirmaError::CurpMismatch { .. })));
    let msg = good.check_usable(date("2026-07-15"), &other).unwrap_err().to_string();
    assert!(msg.contains(SIGNER_CURP) && msg.contains(OTHER_CURP), "{msg}");
}

/// The des3 fixture's key re-encoded asking for `iterations` of PBKDF2
/// (same salt, same ciphertext: only the cost changes).
fn key_with_iterations(iterations: u32) -> Vec<u8> {
    use der::{Decode, Encode};
    use pkcs8::pkcs5::{EncryptionScheme, pbes2::Kdf};
    let original = read(&fixtures().des3.key);
    let mut key = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&original).unwrap();
    let EncryptionScheme::Pbes2(params) = &mut key.encryption_algorithm else { panic!("a PBES2 key") };
    let Kdf::Pbkdf2(kdf) = &mut params.kdf else { panic!("PBKDF2") };
    assert_eq!(kdf.iteration_count, 2048, "as SAT issues them");
    kdf.iteration_count = iterations;
    key.to_der().unwrap()
}

#[test]
fn a_key_asking_for_an_absurd_derivation_is_refused_before_any_work() {
    let m = &fixtures().des3;
    // 2^31 iterations would keep a core busy for many minutes.
    let crafted = key_with_iterations(1 << 31);
    let err = Efirma::load(&read(&m.cer), &crafted, &read(&m.password)).unwrap_err();
    assert_eq!(err.code(), "llave_costosa");
    assert!(err.to_string().contains("2147483648 iteraciones"), "{err}");
    // At the bound the key is opened as usual (its ciphertext was made with
    // 2,048, so the derived key is wrong: a wrong password, not a refusal).
    let at_bound = key_with_iterations(certifica_core::efirma::MAX_KEY_ITERATIONS);
    assert_eq!(Efirma::load(&read(&m.cer), &at_bound, &read(&m.password)).unwrap_err(), EfirmaError::WrongPassword);
}
