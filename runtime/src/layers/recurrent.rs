//! What the recurrent kinds (`lstm`, `gru`) share beside the kernels': how they read their
//! input, what they return, and how `lstmc check --plan` words their input projection and
//! weight gradients.

use kernels::recurrent::{InputKind, RecurrentDims};

use super::{Incoming, Reads};
use crate::plan::Recurrent;

/// How the kernel reads what the layer receives.
pub(super) fn input_kind(reads: Reads) -> InputKind {
    match reads {
        Reads::Hot => InputKind::OneHot,
        Reads::Repeated => InputKind::Repeated,
        Reads::Features | Reads::Sequence => InputKind::Dense,
        Reads::Vector => unreachable!("the compiler gives a recurrent layer a sequence"),
    }
}

/// Its outputs: every step's state with `sequences`, else the last.
pub(super) fn outgoing(dims: RecurrentDims, settings: Recurrent) -> Incoming {
    Incoming {
        rows: dims.batch,
        steps: dims.steps,
        width: settings.units,
        reads: if settings.sequences {
            Reads::Sequence
        } else {
            Reads::Vector
        },
    }
}

/// The input projection onto `gates` columns.
pub(super) fn projection_op(dims: RecurrentDims, kind: InputKind, gates: usize) -> String {
    let (t, b, i) = (dims.steps, dims.batch, dims.input);
    match kind {
        InputKind::OneHot => format!("input projection: row gather from W_ih [{i}, {gates}] for [{t}, {b}] one-hot indices, no matrix multiply"),
        InputKind::Repeated => format!("input projection: one GEMM [{b}, {i}]·[{i}, {gates}] for the repeated vector, copied to {t} steps"),
        InputKind::Dense => format!("input projection: one GEMM [{}, {i}]·[{i}, {gates}] for all {t} steps", t * b),
    }
}

/// The weight gradients, computed once for all steps.
pub(super) fn weight_gradients_op(dims: RecurrentDims, kind: InputKind) -> String {
    let (t, b) = (dims.steps, dims.batch);
    let d_input = match kind {
        InputKind::OneHot => "dW_ih by scatter-add of rows".to_string(),
        InputKind::Repeated => {
            format!("dW_ih and the vector's gradient from the gate gradients summed over {t} steps")
        }
        InputKind::Dense => format!("dW_ih as one GEMM over {} rows", t * b),
    };
    format!(
        "backward at the end: dW_hh as one GEMM over {} rows, {d_input}",
        t * b
    )
}
