//! The `.cer` decoder, the CA-file reader and the signer trust check on
//! arbitrary DER or PEM: a certificate or an error, never a panic.
#![no_main]

use certifica_core::efirma::SignerCertificate;
use certifica_core::trust::SignerCas;
use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|bytes: &[u8]| {
    static DEMO: OnceLock<SignerCas> = OnceLock::new();
    let demo = DEMO.get_or_init(SignerCas::demo);
    if let Ok(certificate) = SignerCertificate::from_pem_or_der(bytes) {
        let _ = certificate.subject_curp();
        let _ = certificate.verify(b"cadena", &[0u8; 256]);
    }
    let today = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap_or_default();
    let _ = demo.check(bytes, today);
    let _ = SignerCas::new().add(bytes);
});
