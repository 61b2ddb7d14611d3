//! Fuzzes the whole front end and a short run of what it accepts: bytes in, parse + resolve +
//! shape checks + rendering, then, for a spec that checks clean and is small, one epoch of
//! training, evaluation and what `show` prints. It must never panic, hang or allocate in
//! proportion to sizes written in the spec.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let compiled = compiler::compile(data);
    match &compiled.result {
        Err(diagnostics) => {
            let _ = compiler::diagnostic::render("fuzz.lstm", &compiled.text, diagnostics);
        }
        // Larger specs are checked, not run: a fuzzer must try many inputs a second.
        Ok((spec, checked)) if checked.memory.total() <= 16 << 20 && checked.framed.samples <= 2000 => {
            let mut plan = compiler::lower::lower(spec, checked);
            plan.train.epochs = 1;
            let mut trainer = runtime::train::Trainer::new(&plan);
            if trainer.train(|_| {}).is_ok() {
                let _ = compiler::report::show(&plan, &mut trainer);
            }
        }
        Ok(_) => {}
    }
});
