//! `lstmc run --report`: one self-contained HTML page of a run (no scripts, fonts or
//! network), its charts drawn as inline SVG by plotters: the final figures, the training
//! curves, a confusion matrix or the series with its predictions, the recurrent layers'
//! state over a few evaluated samples and every generation, the model and the spec. The page
//! is also well-formed XML, so that tests can read it with an XML parser.

mod charts;
mod state;

use std::fmt::Write;

use charts::{Curve, SeriesPart, BLUE, ORANGE, RED};
use plotters::chart::SeriesLabelPosition;
use runtime::data::{Scaler, PAD};
use runtime::plan::{LayerPlan, Plan, SourcePlan};
use runtime::trace::{Strip, Trace, TraceOf};
use runtime::train::{EpochStats, Evaluation, Part, Score};

use crate::report::{self, symbol_name};

/// Everything a run's page shows.
pub struct RunRecord<'a> {
    pub spec_text: &'a str,
    /// The model summary `lstmc check` prints.
    pub summary: &'a str,
    pub plan: &'a Plan,
    /// One entry an epoch trained in this run.
    pub history: &'a [EpochStats],
    /// The best epoch, when early stopping kept one.
    pub best: Option<usize>,
    pub evaluation: &'a Evaluation,
    /// What `lstmc run` printed after training.
    pub shown: &'a str,
    pub traces: &'a [Trace],
    pub scaler: &'a Scaler,
}

/// The page's text, or what plotters could not draw.
pub fn render(record: &RunRecord) -> Result<String, String> {
    let plan = record.plan;
    let mut body = format!(
        "<h1>{}</h1>\n<p class=\"meta\">lstmc {} · seed {} · {} epoch{} in {:.2} s</p>\n",
        escape(&plan.name),
        env!("CARGO_PKG_VERSION"),
        plan.train.seed,
        record.history.len(),
        if record.history.len() == 1 { "" } else { "s" },
        record.history.iter().map(|s| s.seconds).sum::<f64>().abs(),
    );
    let figures = report::all_figures(&record.evaluation.score);
    let results = format!(
        "{}<p>What the run printed:</p>\n{}",
        pre(&figures),
        pre(record.shown)
    );
    section(&mut body, "results", "Results", &results);
    section(&mut body, "training", "Training", &training(record)?);
    match &record.evaluation.score {
        Score::Accuracy(_) | Score::Language(_) => {
            let html = confusion(record)?;
            section(&mut body, "confusion", "Confusion matrix", &html);
        }
        Score::Errors(_) => {
            let html = series(record)?;
            section(&mut body, "series", "Predictions over the series", &html);
        }
    }
    section(&mut body, "state", "The state", &state_section(record)?);
    section(&mut body, "model", "Model", &pre(record.summary));
    section(&mut body, "spec", "Spec", &pre(record.spec_text));
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <title>lstmc: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(&plan.name)
    ))
}

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; }
.meta, figcaption, .note { color: #555; }
section { margin-top: 2.2em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.9em; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; max-width: 100%; overflow-x: auto; }
figcaption { font-size: 0.9em; margin-bottom: 0.3em; }
";

fn section(body: &mut String, id: &str, title: &str, html: &str) {
    writeln!(
        body,
        "<section id=\"{id}\">\n<h2>{title}</h2>\n{html}</section>"
    )
    .unwrap();
}

fn pre(text: &str) -> String {
    format!("<pre>{}</pre>\n", escape(text))
}

/// Text as HTML (and XML) reads it.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // XML has no C0 controls but these; a text's form feed shows as its picture, ␌.
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('�')),
            c => out.push(c),
        }
    }
    out
}

/// A chart in a figure whose attributes say what it holds, for tests to check.
fn figure(attributes: &str, svg: &str, caption: &str) -> String {
    format!(
        "<figure {attributes}>\n<figcaption>{}</figcaption>\n{svg}</figure>\n",
        escape(caption)
    )
}

/// The loss and the metric per epoch, training and validation.
fn training(record: &RunRecord) -> Result<String, String> {
    let history = record.history;
    if history.is_empty() {
        return Ok("<p class=\"note\">No epochs were trained in this run.</p>\n".into());
    }
    let line = |name, color, pick: &dyn Fn(&EpochStats) -> Option<f64>| Curve {
        name,
        color,
        points: history
            .iter()
            .filter_map(|s| pick(s).map(|v| (s.epoch as f64, v)))
            .collect(),
    };
    let losses: Vec<Curve> = [
        line("training", BLUE, &|s| Some(s.loss)),
        line("validation", ORANGE, &|s| s.val_loss),
    ]
    .into_iter()
    .filter(|c| !c.points.is_empty())
    .collect();
    let mut html = chart_figure("loss", &losses, record.best, "Loss per epoch")?;
    let classes = record.plan.data.source.classes() > 0;
    let metrics: Vec<Curve> = match classes {
        true => vec![
            line("training", BLUE, &|s| s.accuracy.map(|a| a * 100.0)),
            line("validation", ORANGE, &|s| s.val_metric.map(|a| a * 100.0)),
        ],
        false => vec![line("validation", ORANGE, &|s| s.val_metric)],
    };
    let metrics: Vec<Curve> = metrics
        .into_iter()
        .filter(|c| !c.points.is_empty())
        .collect();
    if !metrics.is_empty() {
        let (kind, what) = match classes {
            true => ("accuracy", "Accuracy per epoch, %"),
            false => ("rmse", "Validation RMSE per epoch, in the data's units"),
        };
        html += &chart_figure(kind, &metrics, record.best, what)?;
    }
    Ok(html)
}

fn chart_figure(
    kind: &str,
    curves: &[Curve],
    best: Option<usize>,
    title: &str,
) -> Result<String, String> {
    let y_name = match kind {
        "accuracy" => "%",
        other => other,
    };
    let legend = match kind {
        "accuracy" => SeriesLabelPosition::LowerRight,
        _ => SeriesLabelPosition::UpperRight,
    };
    let svg = charts::curves(title, y_name, curves, best, legend)?;
    let points = curves.first().map_or(0, |c| c.points.len());
    let log = if charts::wants_log(curves) {
        " (log scale)"
    } else {
        ""
    };
    let best_words = best.map_or(String::new(), |b| {
        format!("; the grey line marks the best epoch, {b}")
    });
    let attributes = format!(
        "class=\"chart\" data-chart=\"{kind}\" data-curves=\"{}\" data-points=\"{points}\"",
        curves.len()
    );
    let caption = format!("{title}{log}{best_words}.");
    Ok(figure(&attributes, &svg, &caption))
}

/// What a step read, as its heatmap's axis labels it: a symbol's name; nothing for a
/// series' row, whose steps are numbered instead.
fn step_name(source: &SourcePlan, s: u32) -> String {
    match source {
        SourcePlan::Series { .. } => String::new(),
        _ => symbol(source, s),
    }
}

/// The name of a symbol, `·` for padding.
fn symbol(source: &SourcePlan, symbol: u32) -> String {
    match symbol {
        PAD => "·".to_string(),
        s => symbol_name(source, s),
    }
}

fn confusion(record: &RunRecord) -> Result<String, String> {
    let source = &record.plan.data.source;
    let classes = source.classes();
    let evaluation = record.evaluation;
    let mut counts = vec![vec![0; classes]; classes];
    for index in 0..evaluation.samples() {
        let sample = evaluation.sample(index);
        for (&actual, &predicted) in sample.target.iter().zip(sample.predicted) {
            if actual != PAD {
                counts[actual as usize][predicted as usize] += 1;
            }
        }
    }
    let names: Vec<String> = (0..classes as u32).map(|c| symbol(source, c)).collect();
    let svg = charts::confusion(&counts, &names)?;
    let targets: usize = counts.iter().flatten().sum();
    let attributes = format!("class=\"chart\" data-chart=\"confusion\" data-classes=\"{classes}\"");
    let caption = format!(
        "{targets} evaluated targets: the actual class down the side, the predicted one along \
         the bottom; blue cells are right, red ones wrong, darker for more."
    );
    Ok(figure(&attributes, &svg, &caption))
}

/// A regression's evaluated parts in time order: the first target of each sample, actual and
/// predicted, in the data's units.
fn series(record: &RunRecord) -> Result<String, String> {
    let evaluation = record.evaluation;
    let undo = |value: f32| f64::from(record.scaler.targets[0].undo(value));
    let mut parts: Vec<SeriesPart> = Vec::new();
    for index in 0..evaluation.samples() {
        let sample = evaluation.series_sample(index);
        if parts.last().is_none_or(|p| p.name != sample.part.name()) {
            let color = match sample.part {
                Part::Train => BLUE,
                Part::Validation => ORANGE,
                Part::Test => RED,
            };
            parts.push(SeriesPart {
                name: sample.part.name(),
                color,
                points: Vec::new(),
                joined: true,
            });
        }
        let point = (
            sample.row as f64,
            undo(sample.target[0]),
            undo(sample.predicted[0]),
        );
        parts.last_mut().expect("pushed above").points.push(point);
    }
    // A random split's parts interleave in time: their predictions are drawn as points.
    for part in &mut parts {
        part.points.sort_by(|a, b| a.0.total_cmp(&b.0));
        part.joined = part
            .points
            .windows(2)
            .all(|pair| pair[1].0 - pair[0].0 == 1.0);
    }
    let title = "The first target of each sample, actual and predicted";
    let svg = charts::series(title, &parts)?;
    let names: Vec<&str> = parts.iter().map(|p| p.name).collect();
    let attributes = format!(
        "class=\"chart\" data-chart=\"series\" data-points=\"{}\"",
        evaluation.samples()
    );
    let caption = format!(
        "Parts: {}; each sample's first target in the data's units, at its row of the series.",
        names.join(", ")
    );
    Ok(figure(&attributes, &svg, &caption))
}

/// Each trace's strips as heatmaps, a figure a layer, until the page's budget of cells.
fn state_section(record: &RunRecord) -> Result<String, String> {
    let plan = record.plan;
    let source = &plan.data.source;
    let name = |s: u32| step_name(source, s);
    let mut html = String::from(
        "<p class=\"note\">Each recurrent layer's state at every step, read left to right: \
         the hidden state h, the cell state c and the gates, one row a unit, units sorted by \
         the step at which h peaks; a padded step (·) shows the state carried over it. \
         Recorded in evaluation only, never in training.</p>\n",
    );
    let (mut cells, mut left_out) = (0, 0);
    for trace in record.traces {
        for (row, strip) in trace.strips.iter().enumerate() {
            let room = state::MAX_CELLS.saturating_sub(cells);
            let Some(cut) = state::fit(strip, room, cells == 0) else {
                left_out += 1;
                continue;
            };
            let title = strip_title(trace, row, strip, cut, source);
            writeln!(html, "<h3>{}</h3>", escape(&title)).unwrap();
            for (layer, plan_layer) in plan.layers.iter().enumerate() {
                let Some((panels, labels)) = state::layer_panels(strip, layer, cut, &name) else {
                    continue;
                };
                cells += panels.iter().map(|p| p.steps * p.units).sum::<usize>();
                let svg = state::heatmaps(&panels, &labels)?;
                let attributes = format!(
                    "class=\"heatmap\" data-layer=\"{layer}\" data-panels=\"{}\" data-steps=\"{}\" data-units=\"{}\"",
                    panels.len(),
                    panels[0].steps,
                    panels[0].units
                );
                let caption = format!("layer {}: {}", layer + 1, layer_name(plan_layer));
                html += &figure(&attributes, &svg, &caption);
            }
        }
    }
    if record.traces.is_empty() {
        html += "<p class=\"note\">Nothing was evaluated.</p>\n";
    }
    if left_out > 0 {
        writeln!(html, "<p class=\"note\">{left_out} more recorded strips (samples, or a stateful model's batch rows) were left out to keep the page small.</p>").unwrap();
    }
    Ok(html)
}

/// One recorded signal of one layer along one strip, for `lstmc run --trace`.
pub struct TracedSignal {
    /// `evaluation`, or `generation1`, `generation2`, ... in the order the spec shows them.
    pub trace: String,
    /// The batch row, from 1.
    pub row: usize,
    /// The layer, from 1 as the summary counts them after `input`.
    pub layer: usize,
    pub signal: String,
    /// What each step read.
    pub labels: Vec<String>,
    pub steps: usize,
    pub units: usize,
    /// `[steps, units]`, units in the layer's own order.
    pub values: Vec<f32>,
}

/// Every recorded signal, strip by strip and layer by layer.
pub fn traced_signals(plan: &Plan, traces: &[Trace]) -> Vec<TracedSignal> {
    let source = &plan.data.source;
    let name = |s: u32| step_name(source, s);
    let mut generations = 0;
    let mut signals = Vec::new();
    for trace in traces {
        let trace_name = match trace.of {
            TraceOf::Evaluation => "evaluation".to_string(),
            TraceOf::Generation { .. } => {
                generations += 1;
                format!("generation{generations}")
            }
        };
        for (row, strip) in trace.strips.iter().enumerate() {
            for layer in 0..plan.layers.len() {
                let all = state::Cut::whole(strip);
                let Some((panels, labels)) = state::layer_panels(strip, layer, all, &name) else {
                    continue;
                };
                signals.extend(panels.into_iter().map(|panel| TracedSignal {
                    trace: trace_name.clone(),
                    row: row + 1,
                    layer: layer + 1,
                    signal: panel.name,
                    labels: labels.clone(),
                    steps: panel.steps,
                    units: panel.units,
                    values: panel.values,
                }));
            }
        }
    }
    signals
}

fn strip_title(
    trace: &Trace,
    row: usize,
    strip: &Strip,
    cut: state::Cut,
    source: &SourcePlan,
) -> String {
    let mut title = match trace.of {
        TraceOf::Generation { from } => {
            let how = match strip.carried {
                true => "the state carried from each to the next",
                false => "each from a zero state, as the model is not stateful",
            };
            format!(
                "Generation from {}: {} steps, {how}",
                symbol(source, from),
                strip.segments.len()
            )
        }
        TraceOf::Evaluation => {
            // The samples drawn, not those recorded past the cut.
            let drawn = &strip.segments[..cut.segments.min(strip.segments.len())];
            let samples: Vec<usize> = drawn.iter().filter_map(|s| s.sample).collect();
            match (strip.carried, &samples[..]) {
                (true, [_, _, ..]) => format!(
                    "Evaluation, batch row {}: {}, the state carried from batch to batch",
                    row + 1,
                    sample_list(&samples)
                ),
                (_, [first, ..]) => format!("Evaluation, sample {}", first + 1),
                (_, []) => "Evaluation".to_string(),
            }
        }
    };
    if cut.segments < strip.segments.len() {
        write!(
            title,
            " (the first {} of the {} recorded, as many as the page holds)",
            cut.segments,
            strip.segments.len()
        )
        .unwrap();
    }
    if cut.steps != usize::MAX {
        write!(title, " (its first {} steps)", cut.steps).unwrap();
    }
    title
}

/// `samples 1 to 25` when they follow each other, else `samples 1, 8, 15` (a stateful
/// row's own samples), shortened past six.
fn sample_list(samples: &[usize]) -> String {
    let (first, last) = (samples[0] + 1, samples[samples.len() - 1] + 1);
    if samples.windows(2).all(|pair| pair[1] == pair[0] + 1) {
        return format!("samples {first} to {last}");
    }
    let shown: Vec<String> = samples
        .iter()
        .take(5)
        .map(|s| (s + 1).to_string())
        .collect();
    match samples.len() {
        0..=6 => format!(
            "samples {}",
            samples
                .iter()
                .map(|s| (s + 1).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        n => format!("samples {}, …, {last} ({n} in all)", shown.join(", ")),
    }
}

/// A layer as the spec would write it, in short.
fn layer_name(layer: &LayerPlan) -> String {
    match layer {
        LayerPlan::Lstm(r) => format!("lstm {}", r.units),
        LayerPlan::Gru(r) => format!("gru {}", r.units),
        LayerPlan::Bidirectional(b) => {
            let cell = format!("{:?}", b.cell).to_lowercase();
            format!("{cell} {} bidirectional", b.layer.units)
        }
        other => format!("{other:?}"),
    }
}
