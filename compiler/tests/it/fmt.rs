//! `lstmc fmt`: specs in the canonical layout with their comments where they were; every
//! spec in `specs/` is formatted; formatting keeps the tree, keeps every comment with its
//! statement and is idempotent on any tree the printer prints; `--check` shows a diff and
//! exits 1; a rewrite keeps the file's mode and owner, follows a link, and refuses a
//! read-only file and one with other hard links.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

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

const MULTI_LINE: &str = "model m {
  input steps=1 features=3
  lstm 32 # a
  dense f( # x

    1) # y
}
data source=alphabet frame=windows( # c1
  size=3 # c2
  ) encode=normalize layout=features # c3
train epochs=5 batch=1
x a(1, # p
  b) { # q
  y 1
}
";

#[test]
fn comments_inside_a_statement_stay_with_it() {
    let formatted = format(MULTI_LINE).unwrap();
    insta::assert_snapshot!(formatted);
    assert_eq!(format(&formatted).unwrap(), formatted);
}

#[test]
fn a_byte_order_mark_is_kept() {
    let text = "\u{feff}# c\nmodel   m {\n  lstm 4 # d\n}\n";
    let formatted = format(text).unwrap();
    assert_eq!(formatted, "\u{feff}# c\nmodel m {\n  lstm   4 # d\n}\n");
    assert_eq!(format(&formatted).unwrap(), formatted);
}

#[test]
fn a_lone_carriage_return_is_not_formatted_away() {
    assert!(format("model m {\n  lstm 4\r  dense 1\n}\n").is_err());
    assert_eq!(
        format("model m {\r\n  lstm 4\r\n}\r\n").unwrap(),
        "model m {\n  lstm   4\n}\n"
    );
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

/// `text` with each line that `pick` picks and that has a call broken after the call's `(`,
/// a numbered comment there; and for each line, the number of the comment it was given.
fn broken_after_calls(text: &str, pick: &[bool]) -> (String, Vec<Option<usize>>) {
    let mut out = String::new();
    let mut given = Vec::new();
    for (line, pick) in text.lines().zip(pick.iter().cycle()) {
        match first_paren(line).filter(|_| *pick) {
            Some(at) => {
                let number = given.iter().flatten().count();
                out.push_str(&format!(
                    "{} # open {number}\n{}\n",
                    &line[..=at],
                    &line[at + 1..]
                ));
                given.push(Some(number));
            }
            None => {
                out.push_str(line);
                out.push('\n');
                given.push(None);
            }
        }
    }
    (out, given)
}

/// Where the first `(` outside strings and comments is in a printed line.
fn first_paren(line: &str) -> Option<usize> {
    let (mut in_string, mut escaped) = (false, false);
    for (at, c) in line.char_indices() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (_, _, '"') => in_string = !in_string,
            (false, _, '#') => return None,
            (false, _, '(') => return Some(at),
            _ => {}
        }
    }
    None
}

proptest! {
    /// A statement written over several lines is formatted as the same statement on one
    /// line, with the comments from inside it just above it at its indent.
    #[test]
    fn comments_inside_a_statement_go_just_above_it(
        stmts in prop::collection::vec(stmt(), 0..6),
        keep in prop::collection::vec(any::<bool>(), 1..8),
        pick in prop::collection::vec(any::<bool>(), 1..8),
    ) {
        let (text, _) = with_comments(&print(&File { stmts }), &keep);
        let (broken, given) = broken_after_calls(&text, &pick);
        let formatted = format(&broken).unwrap();
        // The printer's text has no blank lines or comment lines, so the formatter keeps
        // its lines one for one.
        let mut expected = String::new();
        for (line, number) in format(&text).unwrap().lines().zip(&given) {
            if let Some(number) = number {
                let indent = line.len() - line.trim_start().len();
                expected.push_str(&format!("{}# open {number}\n", &line[..indent]));
            }
            expected.push_str(line);
            expected.push('\n');
        }
        prop_assert_eq!(&formatted, &expected, "{}", broken);
        prop_assert_eq!(format(&formatted).unwrap(), formatted);
    }

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

const UNFORMATTED: &str = "model   m {\n  lstm 4\n}\n";
const FORMATTED: &str = "model m {\n  lstm   4\n}\n";

/// An empty folder of its own for a test that writes files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lstmc_{}_{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    dir
}

/// The names in `dir`, sorted: a temporary file left behind shows among them.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn fmt_file(path: &Path) -> std::process::Output {
    lstmc(&["fmt", path.to_str().unwrap()])
}

#[test]
fn rewriting_keeps_the_mode_and_writes_a_links_target() {
    let dir = scratch("fmt_modes");
    for mode_bits in [0o600, 0o640, 0o755] {
        let path = dir.join(format!("{mode_bits:o}.lstm"));
        std::fs::write(&path, UNFORMATTED).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode_bits)).unwrap();
        assert_eq!(fmt_file(&path).status.code(), Some(0));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), FORMATTED);
        assert_eq!(mode(&path), mode_bits);
    }
    let (target, link) = (dir.join("target.lstm"), dir.join("link.lstm"));
    std::fs::write(&target, UNFORMATTED).unwrap();
    std::os::unix::fs::symlink("target.lstm", &link).unwrap();
    assert_eq!(fmt_file(&link).status.code(), Some(0));
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), FORMATTED);
    assert_eq!(
        names(&dir),
        [
            "600.lstm",
            "640.lstm",
            "755.lstm",
            "link.lstm",
            "target.lstm"
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Only root can give a file to another user, so the owner is checked where the tests run
/// as root (as `sudo lstmc fmt` would).
#[test]
fn rewriting_as_root_keeps_the_owner() {
    let dir = scratch("fmt_owner");
    if std::fs::metadata(&dir).unwrap().uid() != 0 {
        return std::fs::remove_dir_all(&dir).unwrap();
    }
    let path = dir.join("theirs.lstm");
    std::fs::write(&path, UNFORMATTED).unwrap();
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    assert_eq!(fmt_file(&path).status.code(), Some(0));
    let metadata = std::fs::metadata(&path).unwrap();
    assert_eq!((metadata.uid(), metadata.gid()), (65534, 65534));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), FORMATTED);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn read_only_files_and_hard_links_are_refused() {
    let dir = scratch("fmt_refused");
    let read_only = dir.join("read_only.lstm");
    std::fs::write(&read_only, UNFORMATTED).unwrap();
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o444)).unwrap();
    let out = fmt_file(&read_only);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("read_only.lstm: the file is read-only"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&read_only).unwrap(), UNFORMATTED);
    assert_eq!(mode(&read_only), 0o444);
    assert_eq!(
        lstmc(&["fmt", "--check", read_only.to_str().unwrap()])
            .status
            .code(),
        Some(1),
        "--check writes nothing, so a read-only file is checked as any other"
    );

    let (one, other) = (dir.join("one.lstm"), dir.join("other.lstm"));
    std::fs::write(&one, UNFORMATTED).unwrap();
    std::fs::hard_link(&one, &other).unwrap();
    let out = fmt_file(&one);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("one.lstm: it has 2 hard links"), "{stderr}");
    assert_eq!(std::fs::metadata(&one).unwrap().nlink(), 2);
    assert_eq!(std::fs::read_to_string(&other).unwrap(), UNFORMATTED);
    assert_eq!(names(&dir), ["one.lstm", "other.lstm", "read_only.lstm"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
