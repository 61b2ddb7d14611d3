//! Diagnostics: what every front-end stage reports, and their rendering with carets.
//!
//! Stages never stop at their first problem: they return what they could build together
//! with a list of `Diagnostic`s, and the driver renders them all.

use codespan_reporting::diagnostic::{Diagnostic as Report, Label as ReportLabel};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Config};

use crate::span::Span;

#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// Lowercase headline, expected before found: "expected a value, found end of line".
    pub message: String,
    /// Where the problem is, with a short label under the caret.
    pub primary: Label,
    /// Other places that explain it ("declared stateful here").
    pub secondary: Vec<Label>,
    /// How to fix it.
    pub help: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>, span: Span, label: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            primary: Label {
                span,
                text: label.into(),
            },
            secondary: Vec::new(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn with_note_at(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label {
            span,
            text: text.into(),
        });
        self
    }
}

/// Renders diagnostics the way rustc does: `error: ...`, `┌─ file:line:col`, the source
/// line, a caret under the span, and `= help: ...`. Plain text, no colour.
pub fn render(file_name: &str, source: &str, diagnostics: &[Diagnostic]) -> String {
    // A byte order mark is no column: the text is shown without it, and the spans, which
    // count its three bytes, moved back by them.
    let (source, skipped) = match source.strip_prefix('\u{feff}') {
        Some(rest) => (rest, '\u{feff}'.len_utf8()),
        None => (source, 0),
    };
    let file = SimpleFile::new(file_name, source);
    let config = Config::default();
    let mut out = String::new();
    for diagnostic in diagnostics {
        let report = to_report(diagnostic, source.len(), skipped);
        // Writing into a String with spans clamped to the source cannot fail.
        let _ = term::emit_to_string(&mut out, &config, &file, &report);
    }
    out
}

#[cold]
fn to_report(diagnostic: &Diagnostic, source_len: usize, skipped: usize) -> Report<()> {
    let clamp = |span: Span| {
        let range = span.range();
        let at = |offset: usize| offset.saturating_sub(skipped).min(source_len);
        at(range.start)..at(range.end)
    };
    let mut labels = vec![ReportLabel::primary((), clamp(diagnostic.primary.span))
        .with_message(&diagnostic.primary.text)];
    for label in &diagnostic.secondary {
        labels.push(ReportLabel::secondary((), clamp(label.span)).with_message(&label.text));
    }
    let notes = diagnostic
        .help
        .iter()
        .map(|help| format!("help: {help}"))
        .collect();
    Report::error()
        .with_message(&diagnostic.message)
        .with_labels(labels)
        .with_notes(notes)
}
