//! `lstmc fmt`: specs in the canonical layout with their comments where they were; every
//! spec in `specs/` is formatted; formatting keeps the tree, keeps every comment and is
//! idempotent on any tree the printer prints; `--check` shows a diff and exits 1.

use compiler::syntax::ast::File;
use compiler::syntax::{format, parse, print};
use proptest::prelude::*;

use crate::roundtrip::stmt;
use crate::{lstm_files, lstmc, repo_root};

#[test]
fn every_spec_is_formatted() {
    for path in lstm_files(&repo_root().join("specs")) {
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(format(&text).unwrap(), text, "{}", path.display());
    }
}

const MESSY: &str = "# header comment


# second header
model   m {   # trailing on model
    input steps=3   features=26
  # own-line in block

    lstm 16    sequences   # after lstm
  dense 26 softmax
  # before close
}   # after close
data source=alphabet frame=windows(3)   encode=one_hot


train loss=crossentropy optimizer=adam( lr=0.01 ) epochs=30 batch=4 # t
show accuracy
# end
";

#[test]
fn comments_stay_where_they_were() {
    insta::assert_snapshot!(format(MESSY).unwrap());
}

/// `text` with a numbered comment after the end of each line that `keep` picks.
fn with_comments(text: &str, keep: &[bool]) -> (String, usize) {
    let mut out = String::new();
    let mut count = 0;
    for (line, pick) in text.lines().zip(keep.iter().cycle()) {
        out.push_str(line);
        if *pick {
            out.push_str(&format!("   # note {count}"));
            count += 1;
        }
        out.push('\n');
    }
    (out, count)
}

proptest! {
    #[test]
    fn formatting_keeps_the_tree_and_the_comments_and_is_idempotent(
        stmts in prop::collection::vec(stmt(), 0..6),
        keep in prop::collection::vec(any::<bool>(), 1..8),
    ) {
        let file = File { stmts };
        let (text, comments) = with_comments(&print(&file), &keep);
        let formatted = format(&text).unwrap();
        let (parsed, diagnostics) = parse(&formatted);
        prop_assert!(diagnostics.is_empty(), "{formatted}");
        prop_assert_eq!(parsed.without_spans(), file);
        for index in 0..comments {
            prop_assert!(formatted.contains(&format!("# note {index}\n")), "{formatted}");
        }
        prop_assert_eq!(format(&formatted).unwrap(), formatted);
    }
}

#[test]
fn check_shows_the_diff_and_rewriting_formats() {
    let path = std::env::temp_dir().join(format!("lstmc_{}_fmt.lstm", std::process::id()));
    std::fs::write(&path, MESSY).unwrap();
    let path_text = path.to_str().unwrap();
    let out = lstmc(&["fmt", "--check", path_text]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout.contains("(formatted)") && stdout.contains("+  lstm   16 sequences # after lstm"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        MESSY,
        "--check writes nothing"
    );
    assert_eq!(lstmc(&["fmt", path_text]).status.code(), Some(0));
    assert_eq!(lstmc(&["fmt", "--check", path_text]).status.code(), Some(0));
    std::fs::write(&path, "model m {\n  lstm 4 (\n}\n").unwrap();
    let out = lstmc(&["fmt", path_text]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a spec that does not parse is not rewritten"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("error"));
    std::fs::remove_file(&path).unwrap();
}
