//! Weight files: what `--save` writes (PyTorch's names, dtypes and shapes, read back with the
//! `safetensors` crate), `--load` round trips, and every kind of bad file is a clear error
//! with exit code 2.

use std::path::PathBuf;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::{lstmc, repo_root};

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("lstmc_{}_{name}", std::process::id()))
}

/// Trains `specs/{spec}.lstm` for `epochs` and saves its weights; returns the file and
/// `run`'s stdout.
fn saved(spec: &str, epochs: &str, name: &str) -> (PathBuf, String) {
    saved_from(&format!("specs/{spec}.lstm"), epochs, name)
}

/// `saved` for a spec at `spec_path`, from the repository root.
fn saved_from(spec_path: &str, epochs: &str, name: &str) -> (PathBuf, String) {
    let path = temp(name);
    let out = lstmc(&[
        "run",
        spec_path,
        "--epochs",
        epochs,
        "--save",
        path.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (path, String::from_utf8(out.stdout).unwrap())
}

#[test]
fn the_same_run_saves_the_same_bytes() {
    // Two processes, so two orders of the metadata's hash map, and a spec that records its
    // scaling and early stopping in the files.
    let (first, _) = saved("airline_early", "3", "bytes_first.safetensors");
    let (second, _) = saved("airline_early", "3", "bytes_second.safetensors");
    for file in ["", ".state"] {
        let read = |path: &PathBuf| std::fs::read(format!("{}{file}", path.display())).unwrap();
        assert!(read(&first) == read(&second), "the {file:?} files differ");
    }
    for file in [first, second] {
        remove_checkpoint(&file);
    }
}

#[test]
fn saved_file_has_pytorch_names_dtypes_and_shapes() {
    let (path, _) = saved("encoder_decoder", "1", "encdec.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    remove_checkpoint(&path);
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut found: Vec<(String, Vec<usize>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), Dtype::F32, "{name}");
            (name, view.shape().to_vec())
        })
        .collect();
    found.sort();
    let want = [
        ("layers.0.bias_hh_l0", vec![600]),
        ("layers.0.bias_ih_l0", vec![600]),
        ("layers.0.weight_hh_l0", vec![600, 150]),
        ("layers.0.weight_ih_l0", vec![600, 100]),
        ("layers.2.bias_hh_l0", vec![600]),
        ("layers.2.bias_ih_l0", vec![600]),
        ("layers.2.weight_hh_l0", vec![600, 150]),
        ("layers.2.weight_ih_l0", vec![600, 150]),
        ("layers.3.bias", vec![100]),
        ("layers.3.weight", vec![100, 150]),
    ];
    let want: Vec<(String, Vec<usize>)> = want
        .iter()
        .map(|(n, s)| (n.to_string(), s.clone()))
        .collect();
    assert_eq!(found, want);
    let (_, metadata) = SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = metadata.metadata().clone().unwrap();
    let spec = std::fs::read_to_string(repo_root().join("specs/encoder_decoder.lstm")).unwrap();
    assert_eq!(metadata["spec"], spec);
    assert_eq!(metadata["lstmc_version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn loaded_weights_evaluate_as_they_trained() {
    let (path, trained) = saved("alphabet_steps", "200", "steps.safetensors");
    let out = lstmc(&[
        "run",
        "specs/alphabet_steps.lstm",
        "--load",
        path.to_str().unwrap(),
        "--epochs",
        "0",
    ]);
    let predicted = lstmc(&[
        "predict",
        "specs/alphabet_steps.lstm",
        "--load",
        path.to_str().unwrap(),
        "--input",
        "ABC",
    ]);
    remove_checkpoint(&path);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), trained);
    let line = trained
        .lines()
        .find(|l| l.starts_with("[A, B, C] -> "))
        .unwrap();
    let (prediction, _) = line.split_once(" (expected").unwrap();
    assert_eq!(
        String::from_utf8(predicted.stdout).unwrap(),
        format!("{prediction}\n")
    );
}

/// A bidirectional LSTM's weights are saved in the names of `torch.nn.LSTM(10, 25,
/// bidirectional=True)`, and loaded back they evaluate as they trained.
#[test]
fn bidirectional_weights_have_pytorch_names_and_load_back() {
    let (path, trained) = saved("index_recall_bidirectional", "200", "bidi.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut found: Vec<(String, Vec<usize>)> = file
        .tensors()
        .into_iter()
        .filter(|(name, _)| name.starts_with("layers.0."))
        .map(|(name, view)| (name, view.shape().to_vec()))
        .collect();
    found.sort();
    let mut want = Vec::new();
    for suffix in ["", "_reverse"] {
        want.push((format!("layers.0.bias_hh_l0{suffix}"), vec![100]));
        want.push((format!("layers.0.bias_ih_l0{suffix}"), vec![100]));
        want.push((format!("layers.0.weight_hh_l0{suffix}"), vec![100, 25]));
        want.push((format!("layers.0.weight_ih_l0{suffix}"), vec![100, 10]));
    }
    want.sort();
    assert_eq!(found, want);
    let out = lstmc(&[
        "run",
        "specs/index_recall_bidirectional.lstm",
        "--load",
        path.to_str().unwrap(),
        "--epochs",
        "0",
    ]);
    remove_checkpoint(&path);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), trained);
}

/// Writes `tensors` (name, dtype, shape, bytes) as a safetensors file.
fn write_tensors(name: &str, tensors: &[(String, Dtype, Vec<usize>, Vec<u8>)]) -> PathBuf {
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, dtype, shape, data)| {
            (
                n.clone(),
                TensorView::new(*dtype, shape.clone(), data).unwrap(),
            )
        })
        .collect();
    let path = temp(name);
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    path
}

/// The tensors of a freshly saved alphabet_naive model, to edit into bad files.
fn naive_tensors() -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    let (path, _) = saved("alphabet_naive", "1", "naive.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    remove_checkpoint(&path);
    let file = SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect()
}

fn assert_load_fails(path: PathBuf, message: &str) {
    let out = lstmc(&[
        "run",
        "specs/alphabet_naive.lstm",
        "--load",
        path.to_str().unwrap(),
        "--epochs",
        "0",
    ]);
    // The last case names a file that does not exist.
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(message), "expected {message:?} in {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_weight_files_are_clear_errors() {
    let good = naive_tensors();
    let (valid_path, _) = saved("alphabet_naive", "1", "valid.safetensors");
    let valid = std::fs::read(&valid_path).unwrap();
    remove_checkpoint(&valid_path);

    let truncated = temp("truncated.safetensors");
    std::fs::write(&truncated, &valid[..valid.len() - 100]).unwrap();
    assert_load_fails(truncated, "is not a readable safetensors file");

    let mut corrupt = valid.clone();
    corrupt[8] = b'X';
    let corrupted = temp("corrupted.safetensors");
    std::fs::write(&corrupted, corrupt).unwrap();
    assert_load_fails(corrupted, "is not a readable safetensors file");

    let text = temp("text.safetensors");
    std::fs::write(&text, "model alphabet { }\n").unwrap();
    assert_load_fails(text, "is not a readable safetensors file");

    let mut wrong_dtype = good.clone();
    let (_, dtype, _, data) = &mut wrong_dtype[0];
    (*dtype, *data) = (
        Dtype::F64,
        data.iter().chain(data.iter()).copied().collect(),
    );
    assert_load_fails(
        write_tensors("dtype.safetensors", &wrong_dtype),
        "lstmc reads F32",
    );

    let missing: Vec<_> = good
        .iter()
        .filter(|(n, ..)| n != "layers.1.bias")
        .cloned()
        .collect();
    assert_load_fails(
        write_tensors("missing.safetensors", &missing),
        "tensor `layers.1.bias` is missing",
    );

    let mut extra = good.clone();
    extra.push(("layers.9.weight".into(), Dtype::F32, vec![1], vec![0; 4]));
    assert_load_fails(
        write_tensors("extra.safetensors", &extra),
        "tensor `layers.9.weight` is not a parameter of this model",
    );

    let mut reshaped = good.clone();
    let bias = reshaped
        .iter_mut()
        .find(|(n, ..)| n == "layers.1.bias")
        .unwrap();
    (bias.2, bias.3) = (vec![25], bias.3[..100].to_vec());
    assert_load_fails(
        write_tensors("shape.safetensors", &reshaped),
        "tensor `layers.1.bias` has shape [25], the model needs [26]",
    );

    assert_load_fails(temp("absent.safetensors"), "cannot read");
}

/// Every tensor of a safetensors file, by name, as raw bytes.
fn tensor_bytes(path: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<u8>)> = file
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.data().to_vec()))
        .collect();
    tensors.sort();
    tensors
}

fn remove_checkpoint(path: &std::path::Path) {
    std::fs::remove_file(path).unwrap();
    std::fs::remove_file(format!("{}.state", path.display())).unwrap();
}

#[test]
fn resuming_a_checkpoint_gives_the_same_bits_as_one_run() {
    // Shuffled batches; fresh data with stateful layers; stateful layers never reset, so
    // that the checkpoint's carried state is not zero; and the other optimizers, clipped,
    // their rates lowered by a schedule of the step or by a plateau; and dropout's masks,
    // drawn from the optimizer's step, with the other new layers and binary cross-entropy;
    // and early stopping whose best epoch came before the checkpoint's, whose weights the
    // shorter run put back at its end while training goes on from where it was.
    for path in [
        "specs/alphabet_naive.lstm",
        "specs/airline_early.lstm",
        "specs/echo_whole.lstm",
        "compiler/test_data/run/stateful_never_reset.lstm",
        "compiler/test_data/run/plateau_series.lstm",
        "compiler/test_data/run/sgd_step_decay.lstm",
        "compiler/test_data/run/adamw_exponential.lstm",
        "compiler/test_data/run/layers_mix.lstm",
        "compiler/test_data/run/rnn_dropout.lstm",
        "compiler/test_data/run/binary_dropout.lstm",
    ] {
        let spec = std::path::Path::new(path)
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap();
        let (whole, whole_out) = saved_from(path, "30", &format!("{spec}_whole.safetensors"));
        let (half, _) = saved_from(path, "12", &format!("{spec}_half.safetensors"));
        let resumed = temp(&format!("{spec}_resumed.safetensors"));
        let out = lstmc(&[
            "run",
            path,
            "--epochs",
            "30",
            "--load",
            half.to_str().unwrap(),
            "--save",
            resumed.to_str().unwrap(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            tensor_bytes(&whole) == tensor_bytes(&resumed),
            "{spec}: resumed weights differ"
        );
        assert_eq!(String::from_utf8(out.stdout).unwrap(), whole_out);
        for file in [whole, half, resumed] {
            remove_checkpoint(&file);
        }
    }
}

#[test]
fn a_checkpoint_with_nothing_left_to_train_is_evaluated_and_says_so() {
    let (path, trained) = saved("airline_early", "12", "nothing_left.safetensors");
    let run = |epochs: &str| {
        let args = [
            "run",
            "specs/airline_early.lstm",
            "--epochs",
            epochs,
            "--load",
        ];
        let out = lstmc(&[&args[..], &[path.to_str().unwrap()]].concat());
        assert_eq!(out.status.code(), Some(0));
        let stderr = String::from_utf8(out.stderr).unwrap();
        (String::from_utf8(out.stdout).unwrap(), stderr)
    };
    let (past, note) = run("5");
    assert_eq!(
        past, trained,
        "the best epoch's weights, evaluated as the run ended"
    );
    assert!(
        note.contains("a checkpoint at epoch 12, and 5 epochs were asked for: nothing is left"),
        "{note}"
    );
    // Asked to evaluate only, it needs no note.
    let (evaluated, quiet) = run("0");
    assert_eq!(evaluated, trained);
    assert!(!quiet.contains("note:"), "{quiet}");
    remove_checkpoint(&path);
}

#[test]
fn checkpoints_survive_a_kill_between_their_two_writes() {
    let path = temp("every.safetensors");
    let arguments = [
        "run",
        "specs/alphabet_steps.lstm",
        "--epochs",
        "7",
        "--checkpoint-every",
        "3",
        "--save",
        path.to_str().unwrap(),
    ];
    let seven = lstmc(&arguments);
    assert_eq!(seven.status.code(), Some(0));
    let sidecar = format!("{}.state", path.display());
    let (_, metadata) = SafeTensors::read_metadata(&std::fs::read(&sidecar).unwrap()).unwrap();
    assert_eq!(metadata.metadata().as_ref().unwrap()["epoch"], "7");
    let (older, _) = saved("alphabet_steps", "3", "older.safetensors");

    // Killed after the sidecar of epoch 7, before its weights: the newer sidecar wins.
    std::fs::copy(&older, &path).unwrap();
    let resumed = lstmc(&[
        "run",
        "specs/alphabet_steps.lstm",
        "--epochs",
        "7",
        "--load",
        path.to_str().unwrap(),
    ]);
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(resumed.stdout, seven.stdout);

    // Weights newer than the sidecar beside them are not its checkpoint.
    let (newer, _) = saved("alphabet_steps", "9", "newer.safetensors");
    std::fs::copy(&newer, &path).unwrap();
    let refused = lstmc(&[
        "run",
        "specs/alphabet_steps.lstm",
        "--load",
        path.to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("the pair is not one checkpoint"));
    for file in [path, older, newer] {
        remove_checkpoint(&file);
    }
}

/// A plateau's record is part of the checkpoint: a spec without the schedule refuses it
/// rather than dropping the lowered rate, and a spec with one refuses a checkpoint without.
#[test]
fn a_plateau_record_goes_only_with_a_plateau_schedule() {
    let path = "compiler/test_data/run/plateau_series.lstm";
    let (with_plateau, _) = saved_from(path, "3", "plateau.safetensors");
    let text = std::fs::read_to_string(repo_root().join(path)).unwrap();
    let data = repo_root().join("data/airline_passengers.csv");
    let text = text.replace(
        "../../../data/airline_passengers.csv",
        data.to_str().unwrap(),
    );
    let fixed = temp("fixed_rate.lstm");
    std::fs::write(
        &fixed,
        text.replace(" schedule=plateau(factor=0.5, patience=2)", ""),
    )
    .unwrap();
    let (without, _) = saved_from(fixed.to_str().unwrap(), "3", "fixed_rate.safetensors");
    for (spec, weights, says) in [
        (
            fixed.to_str().unwrap(),
            &with_plateau,
            "holds a plateau record",
        ),
        (path, &without, "has no plateau record"),
    ] {
        let out = lstmc(&[
            "run",
            spec,
            "--epochs",
            "4",
            "--load",
            weights.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{stderr}");
    }
    std::fs::remove_file(fixed).unwrap();
    for file in [with_plateau, without] {
        remove_checkpoint(&file);
    }
}

/// A sidecar in the layout before optimizers had named slots (`adam_step`) is refused with a
/// way out, not read as a broken file.
#[test]
fn a_sidecar_of_an_older_lstmc_says_so() {
    let (path, _) = saved("alphabet_naive", "1", "older.safetensors");
    let sidecar = PathBuf::from(format!("{}.state", path.display()));
    let bytes = std::fs::read(&sidecar).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut metadata = header.metadata().clone().unwrap();
    let step = metadata.remove("optimizer_step").unwrap();
    metadata.insert("adam_step".to_string(), step);
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let tensors = file.tensors();
    std::fs::write(
        &sidecar,
        safetensors::serialize(tensors, Some(metadata)).unwrap(),
    )
    .unwrap();
    let out = lstmc(&[
        "run",
        "specs/alphabet_naive.lstm",
        "--load",
        path.to_str().unwrap(),
        "--epochs",
        "2",
    ]);
    remove_checkpoint(&path);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("a checkpoint of an older lstmc"),
        "{stderr}"
    );
}
