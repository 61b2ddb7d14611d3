//! Every spec in `specs/` checks clean, its summary and graph stay as reviewed, and its plan
//! report counts the buffers its workspaces allocate.

use compiler::{compile, graph, lower, summary};
use runtime::data::Encoding;
use runtime::model::{Model, Workspace};
use runtime::optimizer::Optimizer;
use runtime::shapes::describe;

use crate::{compile_spec, lstm_files, repo_root};

#[test]
fn every_spec_checks_clean() {
    let files = lstm_files(&repo_root().join("specs"));
    assert!(
        files.len() >= 14,
        "the nine experiments of EXPERIMENTS.md and the series"
    );
    for path in files {
        let compiled = compile_spec(&path);
        if let Err(diagnostics) = &compiled.result {
            let name = path.display().to_string();
            panic!(
                "{}",
                compiler::diagnostic::render(&name, &compiled.text, diagnostics)
            );
        }
    }
}

#[test]
fn summaries() {
    for path in lstm_files(&repo_root().join("specs")) {
        let compiled = compile_spec(&path);
        let (spec, checked) = compiled.result.unwrap();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        insta::assert_snapshot!(format!("summary_{name}"), summary::render(&spec, &checked));
    }
}

#[test]
fn encoder_decoder_graph() {
    let path = repo_root().join("specs/encoder_decoder.lstm");
    let (spec, checked) = compile_spec(&path).result.unwrap();
    insta::assert_snapshot!(graph::to_dot(&spec.model.name.value, &checked.graph));
}

#[test]
fn keras_parameter_counts() {
    // The index-recall notebook's model.summary(): lstm 3,600, dense 260, total 3,860.
    let path = repo_root().join("specs/index_recall.lstm");
    let (_, checked) = compile_spec(&path).result.unwrap();
    let params: Vec<u128> = checked
        .graph
        .chain()
        .iter()
        .map(|node| node.params)
        .collect();
    assert_eq!(params, vec![0, 3600, 260, 0]);
    assert_eq!(checked.graph.total_params(), 3860);
}

/// Keras' `GRU(reset_after=True)` holds `3·H·(I + H + 2)` parameters: two biases, as the
/// recurrent one sits inside the reset gate.
#[test]
fn keras_gru_parameter_counts() {
    let path = repo_root().join("specs/encoder_decoder_gru.lstm");
    let (_, checked) = compile_spec(&path).result.unwrap();
    let params: Vec<u128> = checked
        .graph
        .chain()
        .iter()
        .map(|node| node.params)
        .collect();
    assert_eq!(params, vec![0, 113_400, 0, 135_900, 15_100, 0]);
}

/// The DOT view and the summary describe one graph: the arrow leaving each layer is labelled
/// with the output shape the summary prints for that layer.
#[test]
fn graph_edges_carry_the_summary_shapes() {
    for path in lstm_files(&repo_root().join("specs")) {
        let (spec, checked) = compile_spec(&path).result.unwrap();
        let summary_shapes = summary_output_shapes(&summary::render(&spec, &checked));
        let dot = graph::to_dot(&spec.model.name.value, &checked.graph);
        let edge_labels = dot_edge_labels(&dot);
        assert_eq!(
            edge_labels,
            summary_shapes,
            "{}: DOT edges against the summary's output shapes\n{dot}",
            path.display()
        );
    }
}

/// The output-shape column of the summary's layer table, from `input` to the last layer.
fn summary_output_shapes(summary: &str) -> Vec<String> {
    let rows = summary
        .split("-".repeat(62).as_str())
        .nth(2)
        .expect("a table between rules");
    rows.lines()
        .filter(|line| !line.is_empty())
        .map(|line| line[32..50].trim().to_string())
        .collect()
}

/// The labels of `nA -> nB [label="..."]` lines, in the order of their sources.
fn dot_edge_labels(dot: &str) -> Vec<String> {
    let mut edges: Vec<(usize, String)> = dot
        .lines()
        .filter_map(|line| {
            let (source, rest) = line.trim().strip_prefix('n')?.split_once(" -> ")?;
            let label = rest.split_once("[label=\"")?.1.strip_suffix("\"];")?;
            Some((source.parse().ok()?, label.to_string()))
        })
        .collect();
    edges.sort();
    edges.into_iter().map(|(_, label)| label).collect()
}

/// A batch larger than the data holds every sample, as Keras cuts it: the summary, the
/// shapes and the memory estimate use the rows a batch really holds.
#[test]
fn batch_larger_than_the_data_is_the_whole_data() {
    let spec = |batch: &str| {
        format!(
            "model m {{\n  input steps=1 features=1\n  lstm 32\n  dense 26 softmax\n}}\n\
             data source=alphabet frame=windows(1) encode=normalize\n\
             train epochs=1 batch={batch}\n"
        )
    };
    let summary_of = |batch: &str| {
        let (spec, checked) = compile(spec(batch).as_bytes()).result.unwrap();
        summary::render(&spec, &checked)
    };
    let whole = summary_of("all");
    assert!(
        whole.contains("batch 25\n") && whole.contains("[25, 32]"),
        "{whole}"
    );
    assert_eq!(summary_of("1000"), whole);
    assert_eq!(summary_of("100000000"), whole);
}

/// The helps of `lag_vector_output.lstm` and `repeat_last.lstm` in `compiler/test_data/err`,
/// applied as they read, give specs that check clean.
#[test]
fn helps_applied_check_clean() {
    let lag_decoded = "model lag {\n  input steps=2 features=10\n  lstm 16\n  repeat 1\n  \
        lstm 16 sequences\n  dense 10 softmax per_step\n}\n\
        data source=random_ints(0..10, length=20) frame=lag(in=2, out=1) encode=one_hot\n\
        train epochs=10 batch=1\n";
    let repeat_removed = "model alphabet {\n  input steps=1 features=1\n  lstm 32\n  \
        dense 26 softmax\n}\ndata source=alphabet frame=windows(1) encode=normalize\n\
        train epochs=10 batch=1\n";
    for text in [lag_decoded, repeat_removed] {
        let compiled = compile(text.as_bytes());
        if let Err(diagnostics) = &compiled.result {
            panic!(
                "{}",
                compiler::diagnostic::render("spec", &compiled.text, diagnostics)
            );
        }
    }
}

/// `lstmc check --plan` counts each layer's buffers from the plan's shapes alone: the counts
/// must be the floats `Workspace::new` allocates, at the full batch the report is for and at
/// the single row a prediction runs, and the parameters' floats those of `Model::new` and
/// its optimizer (the specs only tests run use the other optimizers).
#[test]
fn plan_report_counts_what_the_workspace_allocates() {
    let folders = [
        repo_root().join("specs"),
        repo_root().join("compiler/test_data/run"),
    ];
    for path in folders.iter().flat_map(|folder| lstm_files(folder)) {
        let (spec, checked) = compile_spec(&path).result.unwrap();
        assert_counts(&spec, &checked, &path.display().to_string());
    }
}

fn assert_counts(spec: &compiler::spec::Spec, checked: &graph::Checked, name: &str) {
    let plan = lower::lower(spec, checked);
    let model = Model::new(&plan, &mut rand_pcg::Pcg64Mcg::new(1));
    let encoding = Encoding::new(&plan.data, plan.steps, plan.features);
    for rows in [plan.train.batch, 1] {
        let (layers, parameters) = describe(&plan, rows);
        let counted: Vec<usize> = layers.iter().map(|layer| layer.floats).collect();
        let allocated = Workspace::new(&model, rows, encoding).floats();
        assert_eq!(counted, allocated, "{name} at {rows} rows");
        let optimizer = Optimizer::new(plan.train.optimizer, &model.tensors);
        let held = model.floats() + optimizer.floats();
        assert_eq!(parameters, held, "{name}");
    }
}

/// Bidirectional layers of each merge mode, reading features, a sequence and a repeated
/// vector: the summary's lines and shapes, Keras' parameter counts (twice the cell's) and
/// the plan report's buffers.
#[test]
fn bidirectional_layers_in_every_place() {
    let text =
        "model m {\n  input steps=5 features=1\n  gru 6 sequences bidirectional merge=mul\n  \
        lstm 4 bidirectional merge=sum\n  repeat 2\n  lstm 3 sequences bidirectional merge=ave\n  \
        gru 5 sequences bidirectional\n  dense 10 softmax per_step\n}\n\
        data source=random_ints(0..10, length=20) frame=lag(in=5, out=2) encode=normalize\n\
        train epochs=1 batch=4\n";
    let (spec, checked) = compile(text.as_bytes()).result.unwrap();
    let summary = summary::render(&spec, &checked);
    for line in [
        // The layer column widened to the longest layer's 40 characters, for every line.
        "gru 6 sequences bidirectional merge=mul  [4, 5, 6]                  324",
        "lstm 4 bidirectional merge=sum           [4, 4]                     352",
        "lstm 3 sequences bidirectional merge=ave [4, 2, 3]                  192",
        "gru 5 sequences bidirectional            [4, 2, 10]                 300",
    ] {
        assert!(summary.contains(line), "no line {line:?} in\n{summary}");
    }
    assert_counts(&spec, &checked, "bidirectional layers");
}

/// A binary model's summary gives its output as it is, one probability a target, not its
/// two classes.
#[test]
fn a_binary_summary_shows_one_probability() {
    let path = repo_root().join("compiler/test_data/run/binary_dropout.lstm");
    let (spec, checked) = compile_spec(&path).result.unwrap();
    let summary = summary::render(&spec, &checked);
    let header = summary.lines().next().unwrap();
    assert!(header.ends_with("of [5, 2] -> [1], batch 1"), "{header}");
}
