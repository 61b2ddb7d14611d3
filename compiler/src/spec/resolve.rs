//! The top level of a spec: which sections there are, each once, and the required ones.

use super::{
    data, model, train, Data, Eval, EvalOn, LayerKind, Loss, Model, Show, Source, Spec, Train,
};
use crate::diagnostic::Diagnostic;
use crate::span::{Span, Spanned};
use crate::syntax::ast::{File, Stmt};

const SECTIONS: [&str; 5] = ["model", "data", "train", "eval", "show"];

/// What a section looks like, for "missing section" hints: `[symbols, csv series]`, a
/// series' model ending in one value a target and its loss written out.
const MODEL_EXAMPLES: [&str; 2] = [
    "model NAME { input steps=1 features=1\n  lstm 32\n  dense 26 softmax }",
    "model NAME { input steps=1 features=1\n  lstm 32\n  dense 1 }",
];
const DATA_EXAMPLES: [&str; 2] = [
    "data source=alphabet frame=windows(1) encode=normalize",
    "data source=csv(\"FILE.csv\", inputs=COLUMN, targets=COLUMN) frame=forecast(window=1) scale=minmax",
];
const TRAIN_EXAMPLES: [&str; 2] = [
    "train epochs=500 batch=1",
    "train loss=mse epochs=100 batch=1",
];

/// Builds the typed spec. Returns `None` when a required part could not be read; the
/// diagnostics say why. A spec may come back together with diagnostics about parts that were
/// skipped, so that shape checks can still report their own errors in the same run.
pub fn resolve(file: &File, source_len: usize) -> (Option<Spec>, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    if file.stmts.is_empty() {
        diagnostics.push(
            Diagnostic::error("empty spec", Span::point(0), "no statements in this file")
                .with_help(
                    "a spec needs `model`, `data` and `train` sections; see specs/README.md",
                ),
        );
        return (None, diagnostics);
    }
    let sections = sections(file, &mut diagnostics);
    let end = Span::point(source_len);
    // A missing section's example fits what the others say: a model for the data, or, with
    // no data section, data for the model. The data's errors come after the model's, as
    // before the data was read first.
    let mut data_diagnostics = Vec::new();
    let (model, data, series) = match sections[1] {
        Some(stmt) => {
            let data = data::resolve(stmt, &mut data_diagnostics);
            let series = data
                .as_ref()
                .is_some_and(|data| matches!(data.source.value, Source::Csv(_)));
            let example = MODEL_EXAMPLES[usize::from(series)];
            let model = required(sections[0], 0, end, example, &mut diagnostics)
                .and_then(|s| model::resolve(s, &mut diagnostics));
            (model, data, series)
        }
        None => {
            let model = required(sections[0], 0, end, MODEL_EXAMPLES[0], &mut diagnostics)
                .and_then(|s| model::resolve(s, &mut diagnostics));
            let series = model.as_ref().is_some_and(ends_in_values);
            let example = DATA_EXAMPLES[usize::from(series)];
            required(None, 1, end, example, &mut data_diagnostics);
            (model, None, series)
        }
    };
    diagnostics.append(&mut data_diagnostics);
    let example = usize::from(series);
    let mut train = required(
        sections[2],
        2,
        end,
        TRAIN_EXAMPLES[example],
        &mut diagnostics,
    )
    .map(|s| train::resolve(s, &mut diagnostics));
    if let (Some(train), Some(data), Some(stmt)) = (&mut train, &data, sections[2]) {
        series_loss_written_wrong(train, data, stmt);
    }
    let eval = match sections[3] {
        Some(stmt) => train::resolve_eval(stmt, &mut diagnostics),
        None => Some(Eval {
            on: Spanned::new(EvalOn::Train, Span::default()),
            span: Span::default(),
        }),
    };
    let show = match sections[4] {
        Some(stmt) => train::resolve_show(stmt, &mut diagnostics),
        None => Some(Show { items: Vec::new() }),
    };
    let spec = match (model, data, train, eval, show) {
        (Some(model), Some(data), Some(train), Some(eval), Some(show)) => Some(Spec {
            model,
            data,
            train,
            eval,
            show,
        }),
        _ => None,
    };
    (spec, diagnostics)
}

/// Whether a model ends in a dense layer without an activation: values, a regression's.
fn ends_in_values(model: &Model) -> bool {
    matches!(
        model.layers.last().map(|layer| &layer.kind),
        Some(LayerKind::Dense {
            activation: None,
            ..
        })
    )
}

/// A loss written wrong has been reported, and stands in as the default, crossentropy; for a
/// series it stands in as `mse` instead, so that the checks of the task do not report the
/// same mistake again as a loss that does not fit the targets.
fn series_loss_written_wrong(train: &mut Train, data: &Data, stmt: &Stmt) {
    let written = stmt
        .items
        .iter()
        .any(|item| item.name.as_ref().is_some_and(|name| name.text == "loss"));
    let read = train.loss.span != stmt.span;
    if written && !read && matches!(data.source.value, Source::Csv(_)) {
        train.loss.value = Loss::Mse;
    }
}

/// The statement of each section, in `SECTIONS` order; reports unknown and repeated ones.
/// A misspelt section that resembles a missing one is reported and then read as that
/// section, so that the typo is one error rather than two.
fn sections<'a>(file: &'a File, diagnostics: &mut Vec<Diagnostic>) -> [Option<&'a Stmt>; 5] {
    let mut found: [Option<&Stmt>; 5] = [None; 5];
    let mut misspelt = Vec::new();
    for stmt in &file.stmts {
        let keyword = &stmt.keyword;
        let Some(index) = SECTIONS.iter().position(|s| *s == keyword.text) else {
            diagnostics.push(super::args::unknown(
                "section",
                &keyword.text,
                keyword.span,
                &SECTIONS,
            ));
            misspelt.push(stmt);
            continue;
        };
        match found[index] {
            Some(first) => diagnostics.push(
                Diagnostic::error(
                    format!("duplicate `{}` section", keyword.text),
                    keyword.span,
                    "second one here",
                )
                .with_note_at(first.keyword.span, "first one here")
                .with_help("a spec describes one experiment: merge the two sections into one"),
            ),
            None => found[index] = Some(stmt),
        }
    }
    for stmt in misspelt {
        if let Some(index) = super::args::suggest_index(&stmt.keyword.text, &SECTIONS) {
            found[index].get_or_insert(stmt);
        }
    }
    found
}

fn required<'a>(
    stmt: Option<&'a Stmt>,
    index: usize,
    end: Span,
    example: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<&'a Stmt> {
    if stmt.is_none() {
        let name = SECTIONS[index];
        diagnostics.push(
            Diagnostic::error(
                format!("missing `{name}` section"),
                end,
                format!("expected a `{name}` section in this file"),
            )
            .with_help(format!("add one, e.g.\n{example}")),
        );
    }
    stmt
}
