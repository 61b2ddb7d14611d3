//! `lstmc predict` through the binary: negative integers after `--input`, an alphabet that
//! holds a space, labelled probabilities, and input files whose bad lines are named by
//! `FILE:LINE` with nothing printed on stdout; a model of a text or of items sent to what
//! generates from it.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::lstmc;

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("lstmc_{}_predict_{name}", std::process::id()))
}

/// A model of one small LSTM reading `steps` steps of `data`; written as `name.lstm`.
fn spec(name: &str, steps: usize, classes: usize, data: &str) -> PathBuf {
    let path = temp(&format!("{name}.lstm"));
    let text = format!(
        "model {name} {{\n  input steps={steps} features=1\n  lstm 8\n  dense {classes} softmax\n}}\n\
         data {data} encode=normalize\n\
         train loss=crossentropy optimizer=adam(lr=0.001) epochs=2 batch=1 seed=1\n\
         eval on=train\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Trains `spec` briefly and saves its weights beside it.
fn weights(spec: &Path) -> PathBuf {
    let path = spec.with_extension("safetensors");
    let out = lstmc(&[
        "run",
        spec.to_str().unwrap(),
        "--save",
        path.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

fn predict(spec: &Path, weights: &Path, input: &[&str]) -> Output {
    let mut args = vec![
        "predict",
        spec.to_str().unwrap(),
        "--load",
        weights.to_str().unwrap(),
    ];
    args.extend(input);
    lstmc(&args)
}

fn stdout(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn remove(files: &[&PathBuf]) {
    for file in files {
        std::fs::remove_file(file).unwrap();
    }
    let weights = files[1];
    std::fs::remove_file(format!("{}.state", weights.display())).unwrap();
}

#[test]
fn negative_integers_follow_input_as_a_separate_argument() {
    let spec = spec(
        "negative",
        5,
        10,
        "source=random_ints(-5..5, length=5) frame=pick(2)",
    );
    let weights = weights(&spec);
    let separate = predict(&spec, &weights, &["--input", "-5 -4 3 0 1"]);
    let joined = predict(&spec, &weights, &["--input=-5,-4,3,0,1"]);
    remove(&[&spec, &weights]);
    let separate = stdout(&separate);
    assert!(separate.starts_with("[-5, -4, 3, 0, 1] -> ["), "{separate}");
    assert_eq!(separate, stdout(&joined));
}

#[test]
fn each_character_is_one_letter_so_an_alphabet_can_hold_a_space() {
    let spec = spec("space", 2, 4, "source=alphabet(\"AB C\") frame=windows(2)");
    let weights = weights(&spec);
    let spaced = predict(&spec, &weights, &["--input", "B "]);
    let leading = predict(&spec, &weights, &["--input", " C"]);
    let three = predict(&spec, &weights, &["--input", "A B"]);
    remove(&[&spec, &weights]);
    assert!(stdout(&spaced).starts_with("[B, \" \"] -> ["));
    assert!(stdout(&leading).starts_with("[\" \", C] -> ["));
    assert_eq!(three.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&three.stderr);
    assert!(
        stderr.contains("--input: the model reads 2 symbols, found 3"),
        "{stderr}"
    );
}

#[test]
fn a_space_in_an_alphabet_without_one_is_an_error_saying_why() {
    // The inputs are read before the weights, so none are needed.
    let out = lstmc(&[
        "predict",
        "specs/alphabet_steps.lstm",
        "--load",
        "no/weights.safetensors",
        "--input",
        "A B",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--input: ' ' (character 2) is not a letter of the alphabet")
            && stderr.contains("each character is one"),
        "{stderr}"
    );
}

#[test]
fn probabilities_are_labelled_with_their_classes() {
    let spec = spec(
        "labels",
        5,
        10,
        "source=random_ints(-5..5, length=5) frame=pick(2)",
    );
    let weights = weights(&spec);
    let out = predict(
        &spec,
        &weights,
        &["--input", "0 1 2 3 4", "--probabilities"],
    );
    remove(&[&spec, &weights]);
    let out = stdout(&out);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    let labels: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        labels,
        ["classes:", "-5", "-4", "-3", "-2", "-1", "0", "1", "2", "3", "4"]
    );
    let row: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(row[0], "probabilities:");
    let sum: f32 = row[1..].iter().map(|p| p.parse::<f32>().unwrap()).sum();
    assert_eq!(row.len(), labels.len());
    assert!((sum - 1.0).abs() < 1e-5, "{sum}");
    // Each label stands over its probability.
    let column = |line: &str, word: &str| line.find(&format!(" {word}")).unwrap();
    assert_eq!(column(lines[1], "-5"), column(lines[2], row[1]));
}

#[test]
fn bad_lines_of_an_input_file_are_named_by_line_and_nothing_is_printed() {
    let inputs = temp("bad_inputs.txt");
    std::fs::write(&inputs, "ABC\n\n   \nA B\nBCD\nxyz\r\nDEFG\n").unwrap();
    let out = lstmc(&[
        "predict",
        "specs/alphabet_steps.lstm",
        "--load",
        "no/weights.safetensors",
        "--input-file",
        inputs.to_str().unwrap(),
    ]);
    std::fs::remove_file(&inputs).unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = inputs.display();
    let named: Vec<&str> = stderr
        .lines()
        .map(|line| line.split(": ").nth(1).unwrap())
        .collect();
    assert_eq!(
        named,
        [
            format!("{file}:4"),
            format!("{file}:6"),
            format!("{file}:7")
        ],
        "{stderr}"
    );
    assert!(stderr.contains(&format!("{file}:7: the model reads 3 symbols, found 4")));
}

#[test]
fn an_input_file_skips_blank_lines_and_predicts_the_others_in_order() {
    let spec = spec("file", 3, 26, "source=alphabet frame=windows(3)");
    let weights = weights(&spec);
    let inputs = temp("good_inputs.txt");
    std::fs::write(&inputs, "\nABC\n  \n\t\nXYZ\r\n\nKLM").unwrap();
    let out = predict(&spec, &weights, &["--input-file", inputs.to_str().unwrap()]);
    remove(&[&spec, &weights, &inputs]);
    let out = stdout(&out);
    let inputs: Vec<&str> = out
        .lines()
        .map(|l| l.split(" -> ").next().unwrap())
        .collect();
    assert_eq!(inputs, ["[A, B, C]", "[X, Y, Z]", "[K, L, M]"], "{out}");
}

#[test]
fn a_model_of_items_points_to_show_items_and_one_of_a_text_to_sample() {
    let names = temp("names.txt");
    std::fs::write(&names, "ann\nbob\ncy\n").unwrap();
    let text = temp("story.txt");
    std::fs::write(&text, "a cat sat on a mat\n").unwrap();
    let items = temp("items.lstm");
    let story = temp("story.lstm");
    let model = |features: usize, stateful: &str| {
        format!(
            "model m {{\n  input steps=4 features={features}\n  lstm 8 {stateful}sequences\n  dense {features} softmax per_step\n}}\n"
        )
    };
    let train =
        "train loss=crossentropy optimizer=adam(lr=0.01) epochs=1 batch=2 shuffle=false seed=1\n";
    let items_data = format!(
        "data source=lines({:?}) frame=items encode=one_hot\n",
        names.to_str().unwrap()
    );
    let story_data = format!(
        "data source=text({:?}) frame=streams(steps=4) encode=one_hot\n",
        text.to_str().unwrap()
    );
    std::fs::write(&items, model(7, "") + &items_data + train).unwrap();
    std::fs::write(&story, model(9, "stateful ") + &story_data + train).unwrap();
    // Refused before any weights are read: the file need not exist.
    let absent = temp("absent.safetensors");
    let for_items = predict(&items, &absent, &["--input", "ann"]);
    let for_story = predict(&story, &absent, &["--input", "cat"]);
    for file in [&names, &text, &items, &story] {
        std::fs::remove_file(file).unwrap();
    }
    for (out, wanted) in [
        (for_items, "`show items(...)`"),
        (for_story, "`lstmc sample`"),
    ] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(wanted), "{stderr}");
    }
}

#[test]
fn predict_without_an_input_names_both_ways_to_give_one() {
    let out = lstmc(&[
        "predict",
        "specs/airline.lstm",
        "--load",
        "absent.safetensors",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--input <INPUT>|--input-file <FILE>"),
        "{stderr}"
    );
}
