//! The `.key` decoder (PKCS#8 EncryptedPrivateKeyInfo, PBES2) with the demo
//! certificate and its password: arbitrary key bytes (seeded with the demo
//! key, so mutations reach the KDF and cipher parameters) give an error or
//! the key, never a panic, an abort or minutes of KDF work.
#![no_main]

use certifica_core::efirma::Efirma;
use libfuzzer_sys::fuzz_target;

const CER: &[u8] = include_bytes!("../../assets/demo-efirma/responsable.cer");

fuzz_target!(|key: &[u8]| {
    let _ = Efirma::load(CER, key, b"demo-certifica");
});
