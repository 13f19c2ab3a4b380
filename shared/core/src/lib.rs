//! Certifica's domain: everything needed to turn a student's academic record
//! into a sealed, stamped, verifiable electronic certificate of studies and
//! its printed representation — with no AWS or HTTP types.
//!
//! One module per concept of the official format (SEP-FORMAT.md):
//! [`catalogs`], [`curp`], [`numbers`] (formatting), [`model`], [`rules`],
//! [`document`] (the Dec 3.0 XML), [`checks`] (values of a document made
//! elsewhere), [`cadena`] (cadena original), [`efirma`] (SAT files),
//! [`sello`] (sealing), [`trust`] (the signers' CAs), [`stamping`] (authority port and simulator),
//! [`verify`], [`pdf`] (printed representation) and [`issue`] (the pipeline);
//! [`records`], [`roster`] (the students table), [`jobs`], [`mail`] and [`ports`]
//! are what storage and mail adapters implement.
//!
//! Crypto: the RSA private-key operation (PKCS#1 v1.5, SHA-256) runs in
//! **aws-lc-rs** — constant-time and openssl-class fast. The pure-Rust `rsa`
//! crate measured 6–8× slower here and carries RUSTSEC-2023-0071 (a timing
//! side channel with no fixed release), unacceptable for a service that
//! signs on request. RustCrypto `pkcs8` decrypts SAT `.key` files (PBES2
//! with 3DES/HMAC-SHA1 or AES) and `x509-cert` reads the `.cer`.

pub mod cadena;
pub mod calendar;
pub mod catalogs;
pub mod checks;
pub mod curp;
pub mod document;
pub mod efirma;
pub mod identity;
pub mod issue;
pub mod jobs;
pub mod mail;
pub mod model;
pub mod numbers;
pub mod pdf;
pub mod ports;
pub mod records;
pub mod roster;
pub mod rules;
pub mod secretbox;
pub mod sello;
pub mod stamping;
pub mod trust;
pub mod verify;
