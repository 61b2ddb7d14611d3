//! Weight files: safetensors, in PyTorch's names and layouts (`Model::export`), with the spec
//! text and lstmc's version in the metadata, so `torch.nn.LSTM` and `torch.nn.Linear` load
//! them with `load_state_dict` unchanged.

use std::collections::HashMap;
use std::path::Path;

use runtime::model::{Model, NamedTensor};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::files::write_atomically;

/// Writes the model's parameters to `path`, atomically.
pub fn save(path: &Path, model: &Model, spec_text: &str) -> Result<(), String> {
    let tensors = model.export();
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
    let metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        (
            "lstmc_version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        ("spec".to_string(), spec_text.to_string()),
    ]);
    let file = safetensors::serialize(views, Some(metadata)).map_err(|error| error.to_string())?;
    write_atomically(path, &file)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))
}

/// Reads every tensor of a safetensors file as f32, or says what is wrong with the file.
pub fn load(path: &Path) -> Result<Vec<NamedTensor>, String> {
    let file =
        std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
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
