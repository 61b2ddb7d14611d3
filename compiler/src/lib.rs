//! The lstmc compiler: `.lstm` text to a checked layer graph.
//!
//! Stages, each a function whose result can be inspected on its own:
//! `syntax::parse` (text to syntax tree), `spec::resolve` (syntax tree to a typed spec),
//! `load::series` (the files a spec names), `graph::check` (spec to a layer graph with
//! inferred and checked shapes). `compile` runs them in order; the `lstmc` binary renders
//! what it returns.

pub mod diagnostic;
pub mod format;
pub mod graph;
pub mod ide;
pub mod load;
pub mod lower;
pub mod onnx;
pub mod page;
pub mod report;
pub mod span;
pub mod spec;
pub mod summary;
pub mod syntax;
pub mod table;

use diagnostic::Diagnostic;
use graph::Checked;
use span::Span;
use spec::Spec;

/// Specs are short texts; anything longer is refused before parsing.
pub const MAX_SPEC_BYTES: usize = 1 << 20;

/// The result of compiling one spec, with the text diagnostics are rendered against.
pub struct Compiled {
    /// The source as text; invalid UTF-8 is replaced so errors can still be shown in place.
    pub text: String,
    pub result: Result<(Spec, Checked), Vec<Diagnostic>>,
}

/// `compile_with`, the paths a spec names read relative to the current folder.
pub fn compile(bytes: &[u8]) -> Compiled {
    compile_with(bytes, &load::Folder(std::path::PathBuf::from(".")))
}

/// Parses, resolves and checks a spec given as raw bytes, reading the files it names from
/// `files`. Never panics: any problem with the input is a diagnostic. Stops after the syntax
/// stage if it found errors, since a broken statement would otherwise be reported again as a
/// missing or wrong section.
pub fn compile_with(bytes: &[u8], files: &dyn load::Files) -> Compiled {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(error) => return not_utf8(bytes, error),
    };
    if bytes.len() > MAX_SPEC_BYTES {
        let diagnostic = Diagnostic::error(format!("spec is {} bytes, more than the {MAX_SPEC_BYTES} allowed", bytes.len()), Span::point(0), "too large")
            .with_help("a spec describes one experiment in a few lines; generate data with `source=`, not inline");
        return Compiled {
            text,
            result: Err(vec![diagnostic]),
        };
    }
    let result = check_text(&text, files);
    Compiled { text, result }
}

fn check_text(text: &str, files: &dyn load::Files) -> Result<(Spec, Checked), Vec<Diagnostic>> {
    let (file, syntax_errors) = syntax::parse(text);
    if !syntax_errors.is_empty() {
        return Err(syntax_errors);
    }
    let (spec, mut diagnostics) = spec::resolve(&file, text.len());
    let Some(spec) = spec else {
        return Err(diagnostics);
    };
    let series = load::series(&spec, files, &mut diagnostics);
    let text = load::text(&spec, files, &mut diagnostics);
    let lines = load::lines(&spec, files, &mut diagnostics);
    let (checked, graph_errors) = graph::check(&spec, series, text, lines);
    diagnostics.extend(graph_errors);
    match checked {
        Some(checked) if diagnostics.is_empty() => Ok((spec, checked)),
        _ => Err(in_source_order(diagnostics)),
    }
}

fn in_source_order(mut diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diagnostics.sort_by_key(|d| d.primary.span.start);
    diagnostics
}

#[cold]
fn not_utf8(bytes: &[u8], error: std::str::Utf8Error) -> Compiled {
    let at = error.valid_up_to();
    let bad = error.error_len().unwrap_or(bytes.len() - at);
    let text = String::from_utf8_lossy(bytes).into_owned();
    // The valid prefix survives the lossy conversion byte for byte; the first bad sequence
    // becomes U+FFFD, three bytes long.
    let diagnostic = Diagnostic::error(
        "spec is not valid UTF-8",
        Span::new(at, at + 3),
        format!("invalid byte{}", if bad > 1 { "s" } else { "" }),
    )
    .with_help(format!(
        "byte {at} starts an invalid UTF-8 sequence ({}); save the file as UTF-8",
        hex(&bytes[at..at + bad])
    ));
    Compiled {
        text,
        result: Err(vec![diagnostic]),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("0x{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
