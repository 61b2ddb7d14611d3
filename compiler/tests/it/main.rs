//! The compiler's one integration test binary: tests go through the public boundaries
//! (`compile`, the rendered diagnostics, the `lstmc` binary), never through internals.

mod cli;
mod controls;
mod edits;
mod errors;
mod fmt;
mod lsp;
mod onnx;
mod options;
mod page;
mod predict;
mod roundtrip;
mod run;
mod series;
mod show;
mod specs;
mod table;
mod text;
mod weights;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root, where `specs/` lives.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs the `lstmc` binary from the repository root.
fn lstmc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lstmc"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap()
}

/// The files with extension `lstm` in `dir`, sorted by name.
fn lstm_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "lstm"))
        .collect();
    files.sort();
    files
}

/// The `lstmc` binary's standard output for a call that must succeed.
fn lstmc_stdout(args: &[&str]) -> String {
    let out = lstmc(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Compiles the spec at `path`, reading the files it names from its own folder, as the
/// `lstmc` binary does.
fn compile_spec(path: &Path) -> compiler::Compiled {
    let bytes = std::fs::read(path).unwrap();
    compiler::compile_with(&bytes, &compiler::load::Folder::of(path))
}
