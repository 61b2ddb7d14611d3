//! The `lstmc` binary: exit codes, output streams and several files in one call.

use std::os::unix::process::ExitStatusExt as _;
use std::process::{Command, Stdio};

use crate::{lstmc, repo_root};

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

/// Describing a spec near the 4 GiB memory bound allocates none of its gigabytes: the binary
/// runs under a 512 MiB address-space limit.
#[test]
fn plan_near_the_memory_bound_fits_in_little_memory() {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 524288 && exec \"$0\" check --plan \"$1\"")
        .arg(env!("CARGO_BIN_EXE_lstmc"))
        .arg("compiler/test_data/plan/near_memory_bound.lstm")
        .current_dir(crate::repo_root())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.ends_with("layer buffers: 2.9 GiB\n"), "{stdout}");
}

/// A reader that stops early (`lstmc check specs/*.lstm | head`) ends lstmc as it ends other
/// Unix tools: by SIGPIPE, quietly, whichever command was writing.
#[test]
fn a_closed_standard_output_ends_quietly() {
    let unformatted = std::env::temp_dir().join(format!("lstmc_{}_pipe.lstm", std::process::id()));
    std::fs::write(&unformatted, "model   m {\n}\n").unwrap();
    let calls: [&[&str]; 4] = [
        &["check", "specs/airline.lstm", "specs/encoder_decoder.lstm"],
        &["check", "--plan", "specs/encoder_decoder.lstm"],
        &["fmt", "--check", unformatted.to_str().unwrap()],
        &["--help"],
    ];
    for args in calls {
        // The reading end is closed before lstmc starts, so its first write fails.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_lstmc"))
            .args(args)
            .current_dir(repo_root())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr, "", "{args:?}");
        assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{args:?}");
    }
    std::fs::remove_file(&unformatted).unwrap();
}
