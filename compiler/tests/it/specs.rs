//! Every spec in `specs/` checks clean, and its summary and graph stay as reviewed.

use compiler::{compile, graph, summary};

use crate::{lstm_files, repo_root};

#[test]
fn every_spec_checks_clean() {
    let files = lstm_files(&repo_root().join("specs"));
    assert_eq!(files.len(), 9, "the nine experiments of EXPERIMENTS.md");
    for path in files {
        let compiled = compile(&std::fs::read(&path).unwrap());
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
        let compiled = compile(&std::fs::read(&path).unwrap());
        let (spec, checked) = compiled.result.unwrap();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        insta::assert_snapshot!(format!("summary_{name}"), summary::render(&spec, &checked));
    }
}

#[test]
fn encoder_decoder_graph() {
    let path = repo_root().join("specs/encoder_decoder.lstm");
    let (spec, checked) = compile(&std::fs::read(path).unwrap()).result.unwrap();
    insta::assert_snapshot!(graph::to_dot(&spec.model.name.value, &checked.graph));
}

#[test]
fn keras_parameter_counts() {
    // The index-recall notebook's model.summary(): lstm 3,600, dense 260, total 3,860.
    let path = repo_root().join("specs/index_recall.lstm");
    let (_, checked) = compile(&std::fs::read(path).unwrap()).result.unwrap();
    let params: Vec<u128> = checked
        .graph
        .chain()
        .iter()
        .map(|node| node.params)
        .collect();
    assert_eq!(params, vec![0, 3600, 260, 0]);
    assert_eq!(checked.graph.total_params(), 3860);
}
