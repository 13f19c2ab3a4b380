//! The inbox's upload reader (one XML, or a zip of XMLs and a results
//! sheet) on arbitrary bytes: a classification or a rejection, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = certifica_api::inbox::read("subida", bytes);
});
