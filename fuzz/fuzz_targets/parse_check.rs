//! Fuzzes the whole front end: bytes in, parse + resolve + shape checks + rendering out.
//! It must never panic, hang or allocate in proportion to sizes written in the spec.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let compiled = compiler::compile(data);
    if let Err(diagnostics) = &compiled.result {
        let _ = compiler::diagnostic::render("fuzz.lstm", &compiled.text, diagnostics);
    }
});
