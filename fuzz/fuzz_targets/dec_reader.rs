//! The strict Dec 3.0 reader on arbitrary text: a document or a reason, never a panic.
#![no_main]

use certifica_core::document::Dec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(dec) = Dec::parse(text) {
        // What was read must write back to a document that reads again.
        let again = dec.to_xml();
        let _ = Dec::parse(&again);
    }
});
