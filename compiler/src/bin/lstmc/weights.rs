//! Weight files: safetensors, in PyTorch's names and layouts (`Model::export`), with the spec
//! text and lstmc's version in the metadata, so `torch.nn.LSTM` and `torch.nn.Linear` load
//! them with `load_state_dict` unchanged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use runtime::controls::PlateauState;
use runtime::data::{Affine, Scaler};
use runtime::model::NamedTensor;
use runtime::optimizer::OptimizerState;
use runtime::train::{Best, TrainState, Trainer};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::files::{cannot_read, write_atomically};

/// Reads every tensor of a safetensors file as f32, or says what is wrong with the file.
pub fn load(path: &Path) -> Result<Vec<NamedTensor>, String> {
    let file = std::fs::read(path).map_err(|error| cannot_read(path, &error))?;
    let tensors = SafeTensors::deserialize(&file).map_err(|error| {
        format!(
            "{} is not a readable safetensors file: {error}",
            path.display()
        )
    })?;
    let mut named: Vec<NamedTensor> = tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            if view.dtype() != Dtype::F32 {
                return Err(format!(
                    "tensor `{name}` in {} is {:?}; lstmc reads F32",
                    path.display(),
                    view.dtype()
                ));
            }
            let data = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            Ok(NamedTensor {
                name,
                shape: view.shape().to_vec(),
                data,
            })
        })
        .collect::<Result<_, _>>()?;
    named.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(named)
}

/// The sidecar beside a weight file that makes it a checkpoint: `model.safetensors.state`.
pub fn state_path(weights: &Path) -> PathBuf {
    let mut name = weights.as_os_str().to_owned();
    name.push(".state");
    PathBuf::from(name)
}

/// Writes a checkpoint: first the sidecar, a whole checkpoint in lstmc's own layout (the
/// parameters as `param.{k}`, the optimizer's slots as `{slot}.{k}` (`adam.m.3`), each
/// recurrent layer's carried state as `carried.{layer}.{buffer}` (`carried.0.h`), the epoch,
/// the optimizer's step and its slots' names in the metadata, with early stopping's and a
/// plateau schedule's records), then the weights in PyTorch's layout. Each write is atomic;
/// a run killed between the two leaves a newer sidecar, which loading resumes from.
pub fn save_checkpoint(path: &Path, trainer: &Trainer, spec_text: &str) -> Result<(), String> {
    let state = trainer.state();
    let mut named: Vec<(String, &Vec<f32>)> = Vec::new();
    for (k, values) in state.params.iter().enumerate() {
        named.push((format!("param.{k}"), values));
    }
    for (slot, tensors) in &state.optimizer.slots {
        for (k, values) in tensors.iter().enumerate() {
            named.push((format!("{slot}.{k}"), values));
        }
    }
    for (name, values) in &state.carried {
        named.push((format!("carried.{name}"), values));
    }
    let epoch = state.epoch.to_string();
    let slot_names: Vec<&str> = state
        .optimizer
        .slots
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    let mut metadata = vec![
        ("epoch", epoch.clone()),
        ("optimizer_step", state.optimizer.step.to_string()),
        ("optimizer_slots", slot_names.join(",")),
    ];
    if let Some(best) = &state.best {
        for (k, values) in best.params.iter().enumerate() {
            named.push((format!("best.{k}"), values));
        }
        metadata.push(("best_epoch", best.epoch.to_string()));
        // The loss's bits, so that a resumed run compares against exactly the same figure.
        metadata.push((
            "best_val_loss_bits",
            format!("{:016x}", best.val_loss.to_bits()),
        ));
        metadata.push(("stopped", best.stopped.to_string()));
    }
    if let Some(plateau) = &state.plateau {
        // Bits again: the resumed run's learning rate and best loss are exactly these.
        metadata.push(("plateau_lr_bits", format!("{:016x}", plateau.lr.to_bits())));
        metadata.push(("plateau_wait", plateau.wait.to_string()));
        metadata.push((
            "plateau_best_bits",
            format!("{:016x}", plateau.best.to_bits()),
        ));
    }
    let metadata: Vec<(&str, &str)> = metadata.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let tensors = named
        .into_iter()
        .map(|(name, data)| NamedTensor {
            shape: vec![data.len()],
            data: data.clone(),
            name,
        })
        .collect();
    write_file(&state_path(path), tensors, &metadata)?;
    let scaling = scaler_metadata(trainer.scaler());
    let vocabulary: Option<String> = trainer.vocabulary().map(|v| v.iter().collect());
    let seed = trainer.seed().to_string();
    let mut metadata = vec![("spec", spec_text), ("epoch", &epoch), ("seed", &seed)];
    metadata.extend(scaling.iter().map(|(k, v)| (*k, v.as_str())));
    // A text's symbols are indices into its characters: the weights mean nothing without them.
    metadata.extend(vocabulary.as_deref().map(|v| ("vocabulary", v)));
    write_file(path, trainer.model.export(), &metadata)
}

/// A series' scaling, each column's offset and scale as f32 bits in hex (`offset:scale`,
/// comma-separated), so that a prediction scales exactly as training did. Nothing for symbols.
fn scaler_metadata(scaler: &Scaler) -> Vec<(&'static str, String)> {
    if scaler.targets.is_empty() {
        return Vec::new();
    }
    let text = |columns: &[Affine]| {
        let pairs: Vec<String> = columns
            .iter()
            .map(|a| format!("{:08x}:{:08x}", a.offset.to_bits(), a.scale.to_bits()))
            .collect();
        pairs.join(",")
    };
    vec![
        ("scale_inputs", text(&scaler.inputs)),
        ("scale_targets", text(&scaler.targets)),
    ]
}

/// The seed a weight file was trained with, if it says.
pub fn load_seed(path: &Path) -> Result<Option<u64>, String> {
    match read_metadata(path)?.get("seed") {
        Some(seed) => seed
            .parse()
            .map(Some)
            .map_err(|_| format!("{} has a bad `seed` in its metadata", path.display())),
        None => Ok(None),
    }
}

/// The characters a language model's weights were trained on, if the file names them.
pub fn load_vocabulary(path: &Path) -> Result<Option<Vec<char>>, String> {
    Ok(read_metadata(path)?
        .get("vocabulary")
        .map(|v| v.chars().collect()))
}

/// The scaling a weight file was trained with, if it holds one.
pub fn load_scaler(path: &Path) -> Result<Option<Scaler>, String> {
    let metadata = read_metadata(path)?;
    let (inputs, targets) = match (metadata.get("scale_inputs"), metadata.get("scale_targets")) {
        (Some(inputs), Some(targets)) => (inputs, targets),
        (None, None) => return Ok(None),
        _ => {
            return Err(format!(
                "{} holds half a scaling in its metadata: it is not a whole weight file",
                path.display()
            ))
        }
    };
    let bad = || format!("{} has a bad scaling in its metadata", path.display());
    let columns = |text: &str| -> Result<Vec<Affine>, String> {
        text.split(',')
            .map(|pair| {
                let (offset, scale) = pair.split_once(':').ok_or_else(bad)?;
                let bits = |hex: &str| u32::from_str_radix(hex, 16).map(f32::from_bits);
                match (bits(offset), bits(scale)) {
                    (Ok(offset), Ok(scale))
                        if offset.is_finite() && scale.is_finite() && scale != 0.0 =>
                    {
                        Ok(Affine { offset, scale })
                    }
                    _ => Err(bad()),
                }
            })
            .collect()
    };
    Ok(Some(Scaler {
        inputs: columns(inputs)?,
        targets: columns(targets)?,
    }))
}

/// The training state in a checkpoint's sidecar, if there is one.
pub fn load_state(path: &Path) -> Result<Option<TrainState>, String> {
    let sidecar = state_path(path);
    if !sidecar.exists() {
        return Ok(None);
    }
    let metadata = read_metadata(&sidecar)?;
    // The sidecar is written first and is a whole checkpoint: older weights beside it are a
    // run killed between the two writes. Weights from another or a later epoch are not ours.
    let weights_epoch = read_metadata(path)?
        .get("epoch")
        .and_then(|e| e.parse::<u64>().ok());
    let state_epoch = metadata.get("epoch").and_then(|e| e.parse::<u64>().ok());
    if weights_epoch.is_none() || weights_epoch > state_epoch {
        let show =
            |epoch: Option<u64>| epoch.map_or("no epoch".to_string(), |e| format!("epoch {e}"));
        return Err(format!(
            "{} ({}) does not go with {} ({}): the pair is not one checkpoint",
            path.display(),
            show(weights_epoch),
            sidecar.display(),
            show(state_epoch)
        ));
    }
    if weights_epoch < state_epoch {
        eprintln!(
            "note: {} is newer than {}: resuming from it",
            sidecar.display(),
            path.display()
        );
    }
    let number = |key: &str| {
        metadata
            .get(key)
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| format!("{} has no `{key}` in its metadata", sidecar.display()))
    };
    if metadata.contains_key("adam_step") && !metadata.contains_key("optimizer_step") {
        return Err(format!(
            "{} is a checkpoint of an older lstmc, whose layout this one does not read: \
             remove it to start from the weights in {} alone",
            sidecar.display(),
            path.display()
        ));
    }
    let (epoch, step) = (number("epoch")? as usize, number("optimizer_step")?);
    let mut tensors = load(&sidecar)?;
    let params = numbered(&mut tensors, "param");
    let slots = metadata
        .get("optimizer_slots")
        .ok_or_else(|| {
            format!(
                "{} has no `optimizer_slots` in its metadata",
                sidecar.display()
            )
        })?
        .split(',')
        .filter(|name| !name.is_empty())
        .map(|name| (name.to_string(), numbered(&mut tensors, name)))
        .collect();
    let carried = prefixed(&mut tensors, "carried.");
    let best = read_best(&metadata, numbered(&mut tensors, "best"), &sidecar)?;
    if let Some(extra) = tensors.first() {
        return Err(format!(
            "{} has an unexpected tensor `{}`",
            sidecar.display(),
            extra.name
        ));
    }
    Ok(Some(TrainState {
        epoch,
        params,
        optimizer: OptimizerState { step, slots },
        carried,
        best,
        plateau: read_plateau(&metadata, &sidecar)?,
    }))
}

/// A plateau schedule's record in a sidecar: all of it, or none of it.
fn read_plateau(
    metadata: &HashMap<String, String>,
    sidecar: &Path,
) -> Result<Option<PlateauState>, String> {
    let keys = ["plateau_lr_bits", "plateau_wait", "plateau_best_bits"];
    let [lr, wait, best] = keys.map(|key| metadata.get(key));
    let (Some(lr), Some(wait), Some(best)) = (lr, wait, best) else {
        if [lr, wait, best].iter().all(Option::is_none) {
            return Ok(None);
        }
        return Err(format!(
            "{} holds part of a plateau record: it is not a whole checkpoint",
            sidecar.display()
        ));
    };
    let bad = |key: &str| format!("{} has a bad `{key}` in its metadata", sidecar.display());
    let bits = |text: &str, key: &str| {
        u64::from_str_radix(text, 16)
            .map(f64::from_bits)
            .map_err(|_| bad(key))
    };
    Ok(Some(PlateauState {
        lr: bits(lr, "plateau_lr_bits")?,
        wait: wait.parse().map_err(|_| bad("plateau_wait"))?,
        best: bits(best, "plateau_best_bits")?,
    }))
}

/// Early stopping's record in a sidecar: all of it, or none of it.
fn read_best(
    metadata: &HashMap<String, String>,
    params: Vec<Vec<f32>>,
    sidecar: &Path,
) -> Result<Option<Best>, String> {
    let epoch = metadata.get("best_epoch");
    let bits = metadata.get("best_val_loss_bits");
    let stopped = metadata.get("stopped");
    match (epoch, bits, stopped) {
        (None, None, None) if params.is_empty() => Ok(None),
        (Some(epoch), Some(bits), Some(stopped)) if !params.is_empty() => {
            let bad =
                |key: &str| format!("{} has a bad `{key}` in its metadata", sidecar.display());
            Ok(Some(Best {
                epoch: epoch.parse().map_err(|_| bad("best_epoch"))?,
                val_loss: u64::from_str_radix(bits, 16)
                    .map(f64::from_bits)
                    .map_err(|_| bad("best_val_loss_bits"))?,
                params,
                stopped: stopped.parse().map_err(|_| bad("stopped"))?,
            }))
        }
        _ => Err(format!(
            "{} holds part of an early-stopping record: it is not a whole checkpoint",
            sidecar.display()
        )),
    }
}

/// Takes `{prefix}.0`, `{prefix}.1`, … for as long as they exist.
fn numbered(tensors: &mut Vec<NamedTensor>, prefix: &str) -> Vec<Vec<f32>> {
    let mut found = Vec::new();
    while let Some(index) = tensors
        .iter()
        .position(|t| t.name == format!("{prefix}.{}", found.len()))
    {
        found.push(tensors.swap_remove(index).data);
    }
    found
}

fn read_metadata(path: &Path) -> Result<HashMap<String, String>, String> {
    let bytes = std::fs::read(path).map_err(|error| cannot_read(path, &error))?;
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|error| {
        format!(
            "{} is not a readable safetensors file: {error}",
            path.display()
        )
    })?;
    Ok(header.metadata().clone().unwrap_or_default())
}

/// Takes every tensor whose name starts with `prefix`, named by the rest.
fn prefixed(tensors: &mut Vec<NamedTensor>, prefix: &str) -> Vec<(String, Vec<f32>)> {
    let (found, rest) = std::mem::take(tensors)
        .into_iter()
        .partition::<Vec<_>, _>(|t| t.name.starts_with(prefix));
    *tensors = rest;
    found
        .into_iter()
        .map(|t| (t.name[prefix.len()..].to_string(), t.data))
        .collect()
}

pub(crate) fn write_file(
    path: &Path,
    tensors: Vec<NamedTensor>,
    metadata: &[(&str, &str)],
) -> Result<(), String> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| t.data.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(tensor, data)| {
            TensorView::new(Dtype::F32, tensor.shape.clone(), data)
                .map(|view| (tensor.name.clone(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| error.to_string())?;
    let mut info: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    info.insert("format".into(), "pt".into());
    info.insert("lstmc_version".into(), env!("CARGO_PKG_VERSION").into());
    let mut file = safetensors::serialize(views, Some(info)).map_err(|error| error.to_string())?;
    sort_header(&mut file);
    write_atomically(path, &file)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))
}

/// Rewrites a safetensors file's JSON header with its keys in sorted order. The crate writes
/// the metadata from a `HashMap`, whose order changes from process to process, so the same
/// run saved twice gave files that differ byte for byte. The sorted header holds the same
/// keys and values, so it has the same length and the tensors' offsets stand.
fn sort_header(file: &mut [u8]) {
    let Some(length) = file
        .get(..8)
        .map(|n| u64::from_le_bytes(n.try_into().unwrap()))
    else {
        return;
    };
    let Some(header) = file.get_mut(8..8 + length as usize) else {
        return;
    };
    // The crate pads the header with spaces to a multiple of 8 bytes.
    let json_len = header.len() - header.iter().rev().take_while(|&&b| b == b' ').count();
    let sorted = serde_json::from_slice::<serde_json::Value>(&header[..json_len])
        .and_then(|value| serde_json::to_vec(&value));
    if let Ok(sorted) = sorted {
        if sorted.len() == json_len {
            header[..json_len].copy_from_slice(&sorted);
        }
    }
}
