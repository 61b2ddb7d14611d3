//! The `lstmc` binary: exit codes, output streams and several files in one call.

use crate::lstmc;

#[test]
fn valid_spec_prints_summary_and_exits_0() {
    let out = lstmc(&["check", "specs/encoder_decoder.lstm"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("total params: 346,300"), "{stdout}");
}

#[test]
fn spec_errors_exit_1_with_location() {
    let out = lstmc(&[
        "check",
        "compiler/test_data/err/stateful_without_batch.lstm",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("stateful_without_batch.lstm:4:11"),
        "{stderr}"
    );
}

#[test]
fn missing_file_exits_2() {
    let out = lstmc(&["check", "no/such/file.lstm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("cannot read no/such/file.lstm"));
}

#[test]
fn usage_error_exits_2() {
    assert_eq!(lstmc(&["check"]).status.code(), Some(2));
    assert_eq!(lstmc(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn several_files_are_all_checked() {
    let out = lstmc(&[
        "check",
        "specs/alphabet_naive.lstm",
        "compiler/test_data/err/zero_epochs.lstm",
        "specs/echo_whole.lstm",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("specs/alphabet_naive.lstm: ok")
            && stdout.contains("specs/echo_whole.lstm: ok"),
        "{stdout}"
    );
}

#[test]
fn graph_flag_prints_dot() {
    let out = lstmc(&["check", "--graph", "specs/echo_whole.lstm"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("digraph \"echo_whole\" {") && stdout.contains("[label=\"[7, 5, 20]\"]"),
        "{stdout}"
    );
}

#[test]
fn encoder_decoder_plan() {
    let out = lstmc(&["check", "--plan", "specs/encoder_decoder.lstm"]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!(String::from_utf8(out.stdout).unwrap());
}
