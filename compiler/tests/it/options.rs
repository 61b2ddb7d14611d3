//! Every numeric command-line option has its bad values tried: each is a usage error, exit
//! code 2, with a message naming the option, before anything is printed or written.

use std::collections::BTreeSet;

use crate::lstmc;

/// A bad value of an option, and the other arguments it is given with. `SAVE` and `LOG`
/// stand for files that must not be created.
struct Bad {
    option: &'static str,
    value: &'static str,
    with: &'static [&'static str],
}

const fn bad(option: &'static str, value: &'static str, with: &'static [&'static str]) -> Bad {
    Bad {
        option,
        value,
        with,
    }
}

const FILES: &[&str] = &["--save", "SAVE", "--log", "LOG"];

/// `lstmc run`'s numeric options; `predict`'s are below, and `check` has none (see the test
/// at the end).
const RUN: &[Bad] = &[
    bad("--seed", "-1", FILES),
    bad("--seed", "1.5", FILES),
    bad("--seed", "", FILES),
    bad("--seed", "seven", FILES),
    bad("--seed", "18446744073709551616", FILES),
    bad("--seeds", "0", &[]),
    bad("--seeds", "-1", &[]),
    bad("--seeds", "", &[]),
    bad("--seeds", "2.5", &[]),
    bad("--seeds", "1001", &[]),
    bad("--seeds", "18446744073709551616", &[]),
    // Seeds N, N+1, ... past the largest u64.
    bad("--seeds", "2", &["--seed", "18446744073709551615"]),
    bad("--seeds", "11", &["--seed", "18446744073709551606"]),
    bad("--epochs", "-1", FILES),
    bad("--epochs", "", FILES),
    bad("--epochs", "1e3", FILES),
    bad("--epochs", "18446744073709551616", FILES),
    // Zero epochs only evaluates, which needs weights to evaluate.
    bad("--epochs", "0", FILES),
    bad("--epochs", "0", &["--seeds", "3"]),
    bad("--checkpoint-every", "0", FILES),
    bad("--checkpoint-every", "-1", FILES),
    bad("--checkpoint-every", "", FILES),
    bad("--checkpoint-every", "half", FILES),
    bad("--checkpoint-every", "18446744073709551616", FILES),
    bad("--threads", "0", FILES),
    bad("--threads", "-1", FILES),
    bad("--threads", "", FILES),
    bad("--threads", "1.5", FILES),
    bad("--threads", "1025", FILES),
];

/// `lstmc predict`'s numeric options, for a series (`OUT` stands for the `--output` file,
/// which must not be created).
const PREDICT: &[Bad] = &[
    bad("--forecast", "0", &["--output", "OUT"]),
    bad("--forecast", "-1", &["--output", "OUT"]),
    bad("--forecast", "", &["--output", "OUT"]),
    bad("--forecast", "2.5", &["--output", "OUT"]),
    bad("--forecast", "1000001", &["--output", "OUT"]),
    bad("--forecast", "18446744073709551616", &["--output", "OUT"]),
];

/// `lstmc sample`'s numeric options: a language model's weights are not needed to refuse
/// them.
const SAMPLE: &[Bad] = &[
    bad("--length", "0", &[]),
    bad("--length", "-1", &[]),
    bad("--length", "100001", &[]),
    bad("--length", "many", &[]),
    bad("--temperature", "0", &[]),
    bad("--temperature", "-1", &[]),
    bad("--temperature", "1000", &[]),
    bad("--temperature", "warm", &[]),
    bad("--top-k", "-1", &[]),
    bad("--top-k", "2.5", &[]),
    bad("--seed", "-1", &[]),
    bad("--seed", "18446744073709551616", &[]),
];

fn temp(name: &str) -> String {
    let path = std::env::temp_dir().join(format!("lstmc_{}_options_{name}", std::process::id()));
    path.to_str().unwrap().to_string()
}

#[test]
fn every_bad_numeric_value_is_a_usage_error_naming_its_option() {
    let (save, log) = (temp("save.safetensors"), temp("log.csv"));
    for case in RUN {
        let mut args = vec!["run", "specs/alphabet_naive.lstm", case.option, case.value];
        args.extend(case.with.iter().map(|&a| match a {
            "SAVE" => save.as_str(),
            "LOG" => log.as_str(),
            other => other,
        }));
        let out = lstmc(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let shown = args.join(" ");
        assert_eq!(out.status.code(), Some(2), "{shown}: {stderr}");
        assert!(stderr.contains(case.option), "{shown}: {stderr}");
        assert!(!stderr.contains("panicked"), "{shown}: {stderr}");
        assert!(out.stdout.is_empty(), "{shown} printed on stdout");
        for file in [&save, &format!("{save}.state"), &log] {
            assert!(!std::path::Path::new(file).exists(), "{shown} wrote {file}");
        }
    }
}

#[test]
fn every_bad_forecast_is_a_usage_error_naming_its_option() {
    let output = temp("predictions.csv");
    let series = [
        "predict",
        "specs/airline.lstm",
        "--load",
        "no_weights_needed_to_refuse.safetensors",
        "--input-file",
        "data/airline_passengers.csv",
    ];
    for case in PREDICT {
        let mut args: Vec<&str> = series.to_vec();
        args.extend([case.option, case.value]);
        args.extend(
            case.with
                .iter()
                .map(|&a| if a == "OUT" { output.as_str() } else { a }),
        );
        let out = lstmc(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let shown = args.join(" ");
        assert_eq!(out.status.code(), Some(2), "{shown}: {stderr}");
        assert!(stderr.contains(case.option), "{shown}: {stderr}");
        assert!(out.stdout.is_empty(), "{shown} printed on stdout");
        assert!(
            !std::path::Path::new(&output).exists(),
            "{shown} wrote {output}"
        );
    }
}

#[test]
fn every_bad_sample_option_is_a_usage_error_naming_it() {
    for case in SAMPLE {
        let mut args = vec![
            "sample",
            "specs/tinyshakespeare.lstm",
            "--load",
            "no_weights_needed_to_refuse.safetensors",
        ];
        args.extend([case.option, case.value]);
        let out = lstmc(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let shown = args.join(" ");
        assert_eq!(out.status.code(), Some(2), "{shown}: {stderr}");
        assert!(stderr.contains(case.option), "{shown}: {stderr}");
        assert!(out.stdout.is_empty(), "{shown} printed on stdout");
    }
}

/// What `lstmc help` lists under "Commands:", but `help` itself.
fn commands() -> Vec<String> {
    let help = String::from_utf8(lstmc(&["help"]).stdout).unwrap();
    help.lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|&command| command != "help")
        .map(str::to_string)
        .collect()
}

/// Each option of a command that takes a value, with its placeholder: `("--seeds", "K")`.
fn valued_options(command: &str) -> Vec<(String, String)> {
    let help = String::from_utf8(lstmc(&["help", command]).stdout).unwrap();
    help.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let option = words.next().filter(|word| word.starts_with("--"))?;
            let placeholder = words.next().filter(|word| word.starts_with('<'))?;
            Some((
                option.to_string(),
                placeholder.trim_matches(['<', '>']).to_string(),
            ))
        })
        .collect()
}

/// Numeric options are those shown as `<N>` or `<K>`; any other placeholder must be a
/// known kind of text, so that a new numeric option cannot slip past the table above.
#[test]
fn the_table_tries_every_numeric_option_of_every_command() {
    let commands = commands();
    assert!(commands.contains(&"run".to_string()), "{commands:?}");
    let mut numeric = BTreeSet::new();
    for command in &commands {
        for (option, placeholder) in valued_options(command) {
            match placeholder.as_str() {
                "N" | "K" | "T" => {
                    numeric.insert(format!("{command} {option}"));
                }
                "FILE" | "INPUT" | "TEXT" => {}
                other => panic!("{command} {option} <{other}>: numeric? try its bad values"),
            }
        }
    }
    let runs = RUN.iter().map(|case| format!("run {}", case.option));
    let predicts = PREDICT
        .iter()
        .map(|case| format!("predict {}", case.option));
    let samples = SAMPLE.iter().map(|case| format!("sample {}", case.option));
    let tried: BTreeSet<String> = runs.chain(predicts).chain(samples).collect();
    assert_eq!(numeric, tried);
}
