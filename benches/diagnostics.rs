//! The language server's round trip on every spec of `specs/`: compile the text (parse,
//! resolve, load its data files, check every shape) and turn the result into what an editor
//! receives, diagnostics and inlay hints. `lstmc lsp` does this on every change.
//!
//! `cargo bench --bench diagnostics`

use std::hint::black_box;
use std::path::PathBuf;

use compiler::load::Folder;
use criterion::{criterion_group, criterion_main, Criterion};

fn specs() -> Vec<(String, PathBuf, Vec<u8>)> {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../specs");
    let mut specs: Vec<(String, PathBuf, Vec<u8>)> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "lstm"))
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).unwrap();
            (name, path, bytes)
        })
        .collect();
    specs.sort();
    specs
}

fn round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("lsp_round_trip");
    for (name, path, bytes) in specs() {
        let folder = Folder::of(&path);
        group.bench_function(name, |b| {
            b.iter(|| {
                let compiled = compiler::compile_with(black_box(&bytes), &folder);
                let notes = compiler::ide::diagnostics(&compiled);
                let hints = compiler::ide::inlay_hints(&compiled);
                black_box((notes, hints))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, round_trip);
criterion_main!(benches);
