//! `lstmc fmt FILE...`: rewrites specs in the canonical layout (atomically), or with
//! `--check` rewrites nothing, shows how each unformatted file would change and exits 1.
//! A link is followed and the file it names rewritten; a read-only file, and one with
//! other hard links, is refused.

use std::path::Path;

use compiler::syntax::format;
use similar::TextDiff;

use crate::files::{cannot_read, file_to_rewrite, write_atomically};
use crate::{report_errors, EXIT_SPEC_ERRORS, EXIT_USAGE_OR_IO};

pub fn fmt(files: &[std::path::PathBuf], check: bool) -> u8 {
    files
        .iter()
        .map(|path| fmt_one(path, check))
        .max()
        .unwrap_or(0)
}

fn fmt_one(path: &Path, check: bool) -> u8 {
    let source = match std::fs::read_to_string(path) {
        Ok(source) => source,
        Err(error) => {
            eprintln!("error: {}", cannot_read(path, &error));
            return EXIT_USAGE_OR_IO;
        }
    };
    let formatted = match format(&source) {
        Ok(formatted) => formatted,
        Err(diagnostics) => {
            let compiled = compiler::Compiled {
                text: source,
                result: Err(diagnostics.clone()),
            };
            return report_errors(path, &compiled, &diagnostics);
        }
    };
    if formatted == source {
        return 0;
    }
    if check {
        print!("{}", diff(path, &source, &formatted));
        return EXIT_SPEC_ERRORS;
    }
    let written = file_to_rewrite(path).and_then(|target| {
        write_atomically(&target, formatted.as_bytes())
            .map_err(|error| format!("cannot write {}: {error}", path.display()))
    });
    match written {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("error: {message}");
            EXIT_USAGE_OR_IO
        }
    }
}

/// The changes as a unified diff, a line of context around each, under the file's name.
fn diff(path: &Path, before: &str, after: &str) -> String {
    let name = path.display().to_string();
    let formatted = format!("{name} (formatted)");
    TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(1)
        .header(&name, &formatted)
        .to_string()
}
