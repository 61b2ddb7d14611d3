//! Text sources end to end: the vocabulary travels with the weights, sampling repeats itself
//! for a seed, and a text that cannot be learned from is a clear error.

use crate::{lstmc, lstmc_stdout, repo_root};

const SPEC: &str = "compiler/test_data/text/sonnet.lstm";

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lstmc_text_{name}_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn trained(dir: &std::path::Path) -> String {
    let weights = dir.join("sonnet.safetensors");
    lstmc_stdout(&[
        "run",
        SPEC,
        "--epochs",
        "3",
        "--save",
        weights.to_str().unwrap(),
    ]);
    weights.to_str().unwrap().to_string()
}

#[test]
fn sampling_repeats_itself_for_a_seed() {
    let dir = tempdir("sample");
    let weights = trained(&dir);
    let sample = |seed: &str| {
        lstmc_stdout(&[
            "sample", SPEC, "--load", &weights, "--prime", "Thou", "--length", "60", "--seed", seed,
        ])
    };
    let first = sample("4");
    assert!(first.starts_with("sample from \"Thou\":\nThou"), "{first}");
    assert_eq!(first.chars().count(), sample("4").chars().count());
    assert_eq!(first, sample("4"), "the same seed, the same text");
    assert_ne!(first, sample("5"), "another seed, another text");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The weights name the characters their symbols stand for: a spec over a text with other
/// characters refuses them, and a prime outside the vocabulary is named.
#[test]
fn the_vocabulary_travels_with_the_weights() {
    let dir = tempdir("vocabulary");
    let weights = trained(&dir);
    let other_text = dir.join("other.txt");
    // The same number of distinct characters, one of them different.
    let sonnet =
        std::fs::read_to_string(repo_root().join("compiler/test_data/text/sonnet.txt")).unwrap();
    std::fs::write(&other_text, sonnet.replace('?', "!")).unwrap();
    let spec = std::fs::read_to_string(repo_root().join(SPEC))
        .unwrap()
        .replace("\"sonnet.txt\"", "\"other.txt\"");
    let other_spec = dir.join("other.lstm");
    std::fs::write(&other_spec, spec).unwrap();
    let out = lstmc(&["sample", other_spec.to_str().unwrap(), "--load", &weights]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("trained on another text: its text holds '?'"),
        "{stderr}"
    );
    let out = lstmc(&["sample", SPEC, "--load", &weights, "--prime", "Thou§"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("'§' is not a character of the text"),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Texts that cannot be learned from, each a spec-level error naming the file.
#[test]
fn bad_texts_are_clear_errors() {
    let dir = tempdir("bad");
    let spec = std::fs::read_to_string(repo_root().join(SPEC)).unwrap();
    let cases: [(&str, &[u8], &str); 3] = [
        ("empty.txt", b"", "empty.txt is empty"),
        (
            "one.txt",
            b"aaaaaaaaaaaa",
            "holds one distinct character, 'a'",
        ),
        (
            "latin1.txt",
            b"caf\xe9 au lait",
            "not UTF-8: the first bad sequence starts at byte 3",
        ),
    ];
    for (name, bytes, expected) in cases {
        std::fs::write(dir.join(name), bytes).unwrap();
        let path = dir.join(format!("{name}.lstm"));
        std::fs::write(&path, spec.replace("sonnet.txt", name)).unwrap();
        let out = lstmc(&["check", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
    }
    std::fs::create_dir_all(dir.join("folder.txt")).unwrap();
    let path = dir.join("folder.lstm");
    std::fs::write(&path, spec.replace("sonnet.txt", "folder.txt")).unwrap();
    let out = lstmc(&["check", path.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("it is a folder"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// A model of lines draws whole items, the same for a seed, and counts those not in the file.
#[test]
fn items_are_drawn_whole_and_counted() {
    let run = || lstmc_stdout(&["run", "compiler/test_data/text/names.lstm"]);
    let out = run();
    assert_eq!(out, run(), "the same seed, the same items");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("loss: train "), "{out}");
    let drawn = &lines[1..7];
    assert!(
        drawn
            .iter()
            .all(|item| item.chars().all(|c| "abcdelnortv".contains(c))),
        "{out}"
    );
    let known = ["anna", "bob", "carla", "dan", "eve"];
    let new = drawn.iter().filter(|item| !known.contains(item)).count();
    assert_eq!(
        lines[7],
        format!(
            "new: {new} of 6 ({:.1}%) are not lines of the file",
            100.0 * new as f64 / 6.0
        )
    );
}

/// A text's vocabulary is its distinct characters in code-point order, ASCII or not, and
/// each character's symbol is its place there.
#[test]
fn vocabulary_is_in_code_point_order_beyond_ascii() {
    struct One(&'static str);
    impl compiler::load::Files for One {
        fn read(&self, _: &str, _: u64) -> Result<Vec<u8>, compiler::load::Unreadable> {
            Ok(self.0.as_bytes().to_vec())
        }
    }
    let text = "zé a\nbö é€z\u{1F600}a";
    let spec = "model m {\n  input steps=4 features=9\n  lstm 4 stateful sequences\n  dense 9 softmax per_step\n}\n\
                data source=text(\"t.txt\") frame=streams(steps=4) encode=one_hot\n\
                train epochs=1 batch=1 shuffle=false\n";
    let compiled = compiler::compile_with(spec.as_bytes(), &One(text));
    let (spec, checked) = compiled.result.expect("a valid spec");
    let plan = compiler::lower::lower(&spec, &checked);
    let runtime::plan::SourcePlan::Text { vocabulary, ids } = &plan.data.source else {
        panic!("a text source")
    };
    let mut expected: Vec<char> = text.chars().collect();
    expected.sort_unstable();
    expected.dedup();
    assert_eq!(vocabulary, &expected);
    let decoded: String = ids.iter().map(|&id| vocabulary[id as usize]).collect();
    assert_eq!(decoded, text);
}
