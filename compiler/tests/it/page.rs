//! `lstmc run --report` and `--trace`: the page parses (as XML, so every SVG in it is well
//! formed), its curves have a point an epoch, its heatmaps a cell a unit and step of each
//! signal; the recorded state is the layers' own (it obeys their equations); bad paths are
//! refused before training.

use std::path::PathBuf;

use compiler::{compile, lower};
use runtime::trace::{LayerState, Signal, TraceOf};
use runtime::train::Trainer;

use crate::{lstmc, repo_root};

fn temporary(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("lstmc_{}_page_{name}", std::process::id()))
}

/// Runs `lstmc run` with `args` and returns the page it wrote.
fn report(spec: &str, args: &[&str]) -> String {
    let path = temporary(&format!("{}.html", spec.replace('/', "_")));
    let path_text = path.to_str().unwrap();
    let mut all = vec!["run", spec, "--report", path_text];
    all.extend_from_slice(args);
    let out = lstmc(&all);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    page
}

/// The page as XML: `<!DOCTYPE html>` is a document type declaration to an XML parser.
fn parse(page: &str) -> roxmltree::Document<'_> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(page, options).expect("the page is well-formed XML")
}

fn attribute(node: roxmltree::Node, name: &str) -> usize {
    node.attribute(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .parse()
        .unwrap()
}

fn figures<'a>(
    document: &'a roxmltree::Document,
    class: &'a str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'a>> {
    document
        .descendants()
        .filter(move |n| n.has_tag_name("figure") && n.attribute("class") == Some(class))
}

fn svg_of<'a>(figure: roxmltree::Node<'a, 'a>) -> roxmltree::Node<'a, 'a> {
    figure
        .children()
        .find(|n| n.tag_name().name() == "svg")
        .expect("an svg")
}

/// The points of each line plotters drew as a data series (two pixels wide).
fn lines(svg: roxmltree::Node) -> Vec<usize> {
    svg.descendants()
        .filter(|n| n.tag_name().name() == "polyline" && n.attribute("stroke-width") == Some("2"))
        .map(|n| n.attribute("points").unwrap().split_whitespace().count())
        .collect()
}

fn rects(svg: roxmltree::Node) -> usize {
    svg.descendants()
        .filter(|n| n.tag_name().name() == "rect")
        .count()
}

#[test]
fn stateful_alphabet_page_has_every_part() {
    let page = report("specs/alphabet_stateful.lstm", &["--epochs", "12"]);
    let document = parse(&page);
    let sections: Vec<&str> = document
        .descendants()
        .filter(|n| n.has_tag_name("section"))
        .map(|n| n.attribute("id").unwrap())
        .collect();
    assert_eq!(
        sections,
        ["results", "training", "confusion", "state", "model", "spec"]
    );
    for figure in
        figures(&document, "chart").filter(|f| f.attribute("data-chart") != Some("confusion"))
    {
        assert_eq!(attribute(figure, "data-points"), 12);
        assert_eq!(
            lines(svg_of(figure)),
            [12],
            "one training curve, a point an epoch"
        );
    }
    let confusion = figures(&document, "chart")
        .find(|f| f.attribute("data-chart") == Some("confusion"))
        .unwrap();
    assert_eq!(attribute(confusion, "data-classes"), 26);
    // The evaluation carried over the 25 batches as one strip, then the generations from A
    // (25 steps) and from K (5): each 6 signals of 50 units, a rectangle a cell and the
    // background's.
    let heatmaps: Vec<(usize, usize, usize)> = figures(&document, "heatmap")
        .map(|f| {
            let (panels, steps, units) = (
                attribute(f, "data-panels"),
                attribute(f, "data-steps"),
                attribute(f, "data-units"),
            );
            assert_eq!(rects(svg_of(f)), 1 + panels * steps * units);
            (panels, steps, units)
        })
        .collect();
    assert_eq!(heatmaps, [(6, 25, 50), (6, 25, 50), (6, 5, 50)]);
    assert!(page.contains("samples 1 to 25, the state carried from batch to batch"));
    assert!(
        page.contains("model alphabet_stateful {"),
        "the spec's text"
    );
}

#[test]
fn regression_page_shows_the_series_and_validation() {
    let page = report("specs/airline_early.lstm", &["--epochs", "4"]);
    let document = parse(&page);
    let chart = |kind: &str| {
        figures(&document, "chart")
            .find(|f| f.attribute("data-chart") == Some(kind))
            .unwrap_or_else(|| panic!("no {kind} chart"))
    };
    assert_eq!(
        lines(svg_of(chart("loss"))),
        [4, 4],
        "training and validation"
    );
    assert_eq!(lines(svg_of(chart("rmse"))), [4]);
    let series = chart("series");
    let samples = attribute(series, "data-points");
    let svg = svg_of(series);
    let (actual, predicted): (Vec<_>, Vec<_>) = svg
        .descendants()
        .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke-width") == Some("2"))
        .partition(|n| n.attribute("stroke") == Some("#787878"));
    let points = |lines: &[roxmltree::Node]| -> usize {
        let count = |n: &roxmltree::Node| n.attribute("points").unwrap().split_whitespace().count();
        lines.iter().map(count).sum()
    };
    assert_eq!(
        points(&actual),
        samples,
        "the actual series (grey), a point a sample"
    );
    assert_eq!(
        actual.len(),
        3,
        "a line a part: nothing drawn across the rows between"
    );
    assert_eq!(points(&predicted), samples, "each part's predictions");
    assert!(figures(&document, "heatmap").count() > 0);
}

#[test]
fn random_split_predictions_are_points_at_their_rows() {
    let page = report("specs/macro_unemployment.lstm", &["--epochs", "2"]);
    let document = parse(&page);
    let series = figures(&document, "chart")
        .find(|f| f.attribute("data-chart") == Some("series"))
        .unwrap();
    let samples = attribute(series, "data-points");
    let svg = svg_of(series);
    assert_eq!(lines(svg), [samples], "only the actual series is a line");
    let circles = svg
        .descendants()
        .filter(|n| n.has_tag_name("circle"))
        .count();
    assert!(circles >= samples, "{circles} points for {samples} samples");
}

#[test]
fn a_stateless_model_shows_its_first_three_samples_at_batch_one() {
    let page = report("specs/index_recall.lstm", &["--epochs", "1"]);
    for sample in 1..=3 {
        assert!(page.contains(&format!("<h3>Evaluation, sample {sample}</h3>")));
    }
    assert_eq!(figures(&parse(&page), "heatmap").count(), 3);
}

#[test]
fn control_characters_are_shown_as_their_pictures() {
    assert_eq!(
        compiler::page::escape("a\u{c}<b&\"\n"),
        "a\u{240c}&lt;b&amp;&quot;\n"
    );
}

#[test]
fn encoder_decoder_page_is_small() {
    let page = report("specs/encoder_decoder.lstm", &["--epochs", "1"]);
    assert!(page.len() < 2_000_000, "{} bytes", page.len());
    let document = parse(&page);
    // The encoder's five steps and the decoder's two, for three evaluated samples.
    let steps: Vec<usize> = figures(&document, "heatmap")
        .map(|f| attribute(f, "data-steps"))
        .collect();
    assert_eq!(steps, [5, 2, 5, 2, 5, 2]);
}

#[test]
fn trace_files_hold_every_recorded_value() {
    let csv = temporary("trace.csv");
    let tensors = temporary("trace.safetensors");
    for path in [&csv, &tensors] {
        let out = lstmc(&[
            "run",
            "specs/alphabet_stateful.lstm",
            "--epochs",
            "1",
            "--trace",
            path.to_str().unwrap(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut rows = text.lines();
    assert_eq!(
        rows.next(),
        Some("trace,row,layer,signal,step,read,unit,value")
    );
    // 25 evaluated steps, then 25 and 5 generated, each 6 signals of 50 units.
    assert_eq!(rows.count(), (25 + 25 + 5) * 6 * 50);
    assert!(text.contains("\nevaluation,1,1,h,1,A,0,"));
    let bytes = std::fs::read(&tensors).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(
        file.tensor("evaluation.row1.layer1.c").unwrap().shape(),
        [25, 50]
    );
    assert_eq!(
        file.tensor("generation2.row1.layer1.o").unwrap().shape(),
        [5, 50]
    );
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let read = &metadata.metadata().as_ref().unwrap()["generation2.row1.layer1.read"];
    assert!(read.starts_with("K\n"), "generated from K: {read:?}");
    assert_eq!(
        read.lines().count(),
        5,
        "then what it said, read back: {read:?}"
    );
    std::fs::remove_file(&csv).unwrap();
    std::fs::remove_file(&tensors).unwrap();
}

#[test]
fn unwritable_outputs_are_refused_before_training() {
    let folder = temporary("folder");
    std::fs::create_dir_all(&folder).unwrap();
    let cases = [
        (
            "--report",
            "/no/such/folder/r.html".to_string(),
            "no folder /no/such/folder",
        ),
        (
            "--report",
            folder.to_str().unwrap().to_string(),
            "it is a folder",
        ),
        (
            "--trace",
            "state.txt".to_string(),
            "name a .csv or a .safetensors file",
        ),
    ];
    for (option, path, message) in cases {
        let out = lstmc(&["run", "specs/alphabet_stateful.lstm", option, &path]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{option} {path}: {stderr}");
        assert!(stderr.contains(message), "{option} {path}: {stderr}");
        assert!(out.stdout.is_empty(), "nothing trained or shown");
    }
    std::fs::remove_dir(&folder).unwrap();
    let same = temporary("same.csv");
    let same = same.to_str().unwrap();
    let out = lstmc(&[
        "run",
        "specs/alphabet_stateful.lstm",
        "--log",
        same,
        "--trace",
        same,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is named for two outputs"));
    // Nor over what the run reads: its spec, its weights.
    let spec = "specs/alphabet_stateful.lstm";
    let out = lstmc(&["run", spec, "--report", spec]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("this run reads it"));
    let text = std::fs::read_to_string(repo_root().join(spec)).unwrap();
    assert!(text.contains("model alphabet_stateful"));
}

/// A model with every recurrent kind, evaluated with its state recorded.
fn recorded_layers() -> Vec<Vec<LayerState>> {
    let text =
        "model mix {\n  input steps=4 features=26\n  lstm 5 sequences\n  gru 4 sequences\n  \
                lstm 3 bidirectional\n  dense 26 softmax\n}\n\
                data source=alphabet frame=windows(4) encode=one_hot\n\
                train epochs=3 batch=4 seed=2\neval on=train\n";
    let (spec, checked) = compile(text.as_bytes()).result.expect("a valid spec");
    let plan = lower::lower(&spec, &checked);
    let mut trainer = Trainer::new(&plan);
    trainer.train(|_| {}).expect("finite");
    assert!(
        trainer.recorded().is_empty(),
        "nothing is recorded unless asked"
    );
    trainer.record_state();
    trainer.evaluate();
    let traces = trainer.recorded();
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].of, TraceOf::Evaluation);
    assert_eq!(
        traces[0].strips.len(),
        3,
        "a stateless model's first three rows"
    );
    traces[0]
        .strips
        .iter()
        .map(|strip| {
            assert_eq!(strip.segments.len(), 1, "one sample a strip");
            strip.segments[0].layers.clone()
        })
        .collect()
}

fn signal<'a>(state: &'a LayerState, name: &str) -> &'a Signal {
    state
        .signals
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

/// `c_t = f·c_{t-1} + i·g` and `h_t = o·tanh(c_t)` along `order` of the steps, from zero.
fn assert_lstm(state: &LayerState, prefix: &str, order: &[usize]) {
    let get = |name: &str| signal(state, &format!("{prefix}{name}"));
    let (h, c, i, f, g, o) = (get("h"), get("c"), get("i"), get("f"), get("g"), get("o"));
    let units = h.units;
    let mut c_prev = vec![0.0_f32; units];
    for &t in order {
        for (u, prev) in c_prev.iter_mut().enumerate() {
            let at = t * units + u;
            let c_t = f.values[at] * *prev + i.values[at] * g.values[at];
            assert!((c.values[at] - c_t).abs() < 1e-5, "{prefix}c at step {t}");
            let h_t = o.values[at] * c_t.tanh();
            assert!((h.values[at] - h_t).abs() < 1e-5, "{prefix}h at step {t}");
            *prev = c.values[at];
        }
    }
}

#[test]
fn recorded_state_obeys_each_layers_equations() {
    for layers in recorded_layers() {
        let forward: Vec<usize> = (0..4).collect();
        let [lstm, gru, bidirectional] = &layers[..] else {
            panic!("three recurrent layers, found {}", layers.len())
        };
        assert_eq!((lstm.layer, gru.layer, bidirectional.layer), (0, 1, 2));
        assert_lstm(lstm, "", &forward);
        // The backward direction read the steps last to first; it is recorded in input order.
        assert_lstm(bidirectional, "forward ", &forward);
        let reversed: Vec<usize> = forward.iter().rev().copied().collect();
        assert_lstm(bidirectional, "backward ", &reversed);
        let (h, z, n) = (signal(gru, "h"), signal(gru, "z"), signal(gru, "n"));
        let units = h.units;
        for t in 0..4 {
            for u in 0..units {
                let h_prev = if t == 0 {
                    0.0
                } else {
                    h.values[(t - 1) * units + u]
                };
                let at = t * units + u;
                let h_t = (1.0 - z.values[at]) * n.values[at] + z.values[at] * h_prev;
                assert!((h.values[at] - h_t).abs() < 1e-5, "gru h at step {t}");
            }
        }
    }
}
