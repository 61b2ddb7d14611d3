//! Invalid specs: each file in `compiler/test_data/err` starts with one `# expect: HEADLINE`
//! line per error it must report, and fails with exactly that many diagnostics, each
//! containing its HEADLINE (so a cascade of one mistake, or an error hidden by another,
//! fails the test). Its fully rendered diagnostics (carets, `file:line:col`) are kept as an
//! insta snapshot beside it. Each is compiled as the `lstmc` binary compiles it, the files
//! it names read relative to its own folder.

use compiler::{compile, diagnostic, syntax};

use crate::{compile_spec, lstm_files, repo_root};

#[test]
fn invalid_specs() {
    let dir = repo_root().join("compiler/test_data/err");
    let files = lstm_files(&dir);
    assert!(files.len() >= 20, "one invalid spec per error kind");
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let expected = expected_headlines(&bytes, &name);
        let compiled = compile_spec(&path);
        let Err(diagnostics) = &compiled.result else {
            panic!("{name} should not check clean")
        };
        let messages: Vec<&String> = diagnostics.iter().map(|d| &d.message).collect();
        assert_eq!(
            messages.len(),
            expected.len(),
            "{name}: expected {expected:#?}, got {messages:#?}"
        );
        for headline in &expected {
            assert!(
                messages.iter().any(|m| m.contains(headline.as_str())),
                "{name}: no diagnostic says {headline:?}; got {messages:#?}"
            );
        }
        let rendered = diagnostic::render(&name, &compiled.text, diagnostics);
        insta::with_settings!({ snapshot_path => "../../test_data/err/snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(name.trim_end_matches(".lstm"), rendered);
        });
    }
}

fn expected_headlines(bytes: &[u8], name: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let expected: Vec<String> = text
        .lines()
        .map_while(|line| line.strip_prefix("# expect: "))
        .map(str::to_string)
        .collect();
    assert!(
        !expected.is_empty(),
        "{name} must start with `# expect: HEADLINE`"
    );
    expected
}

#[test]
fn several_independent_errors_in_one_run() {
    let path = repo_root().join("compiler/test_data/err/several_errors.lstm");
    let Err(diagnostics) = compile_spec(&path).result else {
        panic!()
    };
    assert!(diagnostics.len() >= 3, "{diagnostics:#?}");
}

/// A lone CR is a line end to some editors and to none of the tools that count lines here,
/// so it is an error at the CR rather than a blank that joins two statements; wherever it
/// is, even after a comment, which would otherwise hide the line after it.
#[test]
fn a_lone_carriage_return_is_an_error_at_it() {
    for text in [
        "model m {\n  input steps=1 features=1\n  lstm 4\r  dense 1\n}\n",
        "model m {\n  input steps=1 features=1 # c\r  lstm 4\n}\n",
        "model m {\n  input steps=1 features=f(a=1,\r b=2)\n}\n",
        "model m {\n  input steps=1 features=1\n\r  lstm 4\n}\n",
    ] {
        let (_, diagnostics) = syntax::parse(text);
        let messages: Vec<&String> = diagnostics.iter().map(|d| &d.message).collect();
        assert_eq!(
            messages,
            ["a carriage return without a line feed"],
            "{text:?}"
        );
        let span = diagnostics[0].primary.span;
        assert_eq!(&text[span.start as usize..span.end as usize], "\r");
    }
    let windows = "model m {\r\n  input steps=1 features=1 # c\r\n  lstm 4\r\n}\r\n";
    assert_eq!(syntax::parse(windows).1, []);
}

/// A byte order mark is skipped, and spans still count its three bytes, so they point at
/// what they did without it, three bytes on.
#[test]
fn a_byte_order_mark_is_skipped() {
    let spec = std::fs::read_to_string(repo_root().join("specs/echo_whole.lstm")).unwrap();
    assert!(compile(format!("\u{feff}{spec}").as_bytes()).result.is_ok());
    let text = "\u{feff}modle m {\n}\n";
    let Err(diagnostics) = compile(text.as_bytes()).result else {
        panic!()
    };
    let span = diagnostics[0].primary.span;
    assert_eq!(&text[span.start as usize..span.end as usize], "modle");
    // The mark is no column: the error is at 1:1, the caret under the word.
    let rendered = compiler::diagnostic::render("m.lstm", text, &diagnostics);
    assert!(rendered.contains("m.lstm:1:1"), "{rendered}");
    assert!(rendered.contains("1 │ modle m {\n  │ ^^^^^"), "{rendered}");
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep_calls = format!("train x={}1{}\n", "f(".repeat(100_000), ")".repeat(100_000));
    let deep_blocks = format!("model m {}\n", "a {\n".repeat(100_000));
    for text in [deep_calls, deep_blocks] {
        assert!(compile(text.as_bytes()).result.is_err());
    }
}

#[test]
fn oversized_spec_is_refused() {
    let text = format!("# {}\n", "x".repeat(compiler::MAX_SPEC_BYTES));
    let Err(diagnostics) = compile(text.as_bytes()).result else {
        panic!()
    };
    assert!(diagnostics[0].message.contains("more than the"));
}
