//! Fuzzes the CSV reader: bytes in, `read_csv`, every column through `Table::numbers`, and
//! all of them through `fill_missing` in each mode. It must never panic, and what it fills
//! must be finite numbers, one per kept line in every column.
#![no_main]

use compiler::table::{fill_missing, read_csv, Missing};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(table) = read_csv(data) else { return };
    let all: Vec<usize> = (0..table.header().len()).collect();
    for &index in &all {
        let _ = table.numbers(index);
    }
    for missing in [Missing::Error, Missing::Drop, Missing::Previous, Missing::Interpolate] {
        if let Ok((columns, lines)) = fill_missing(&table, &all, missing) {
            assert!(columns.iter().all(|column| column.len() == lines.len()));
            assert!(columns.iter().flatten().all(|value| value.is_finite()));
        }
    }
});
