//! f32 kernels for training LSTM sequence models on CPUs: matrix multiply, the LSTM and GRU
//! layers forward and backward (on what they share, `recurrent`), dense and its activations,
//! softmax with cross-entropy, binary cross-entropy fused with the sigmoid, the regression
//! losses (mean squared and mean absolute error), the optimizers (Adam, AdamW, SGD, RMSprop),
//! gradient clipping, and row gather.
//!
//! Each kernel is vectorised with `wide` (`f32x8`; AVX2 + FMA with the workspace's target
//! features) and has a plain scalar reference in `generic`, against which the tests check it.
//! This crate knows nothing of specs, graphs or plans: it computes on slices.
//!
//! Conventions, everywhere:
//! - dims: T time steps, B batch rows, I inputs, H hidden units, O outputs, C classes;
//! - gates `[4H]` in the order i, f, g, o (input, forget, cell candidate, output), as
//!   Keras and PyTorch; the GRU's `[3H]` in PyTorch's order r, z, n (reset, update, new);
//! - matrices row-major; sequences time-major, `[T, B, ·]`;
//! - backward passes write the weight gradients (`=`), so callers need not zero them;
//! - no kernel allocates: buffers are sized once by the caller (`LstmTape::new`, ...).

pub mod activation;
pub mod adam;
pub mod bce;
pub mod clip;
pub mod denormal;
pub mod dense;
pub mod gather;
pub mod gemm;
pub mod generic;
pub mod gru;
pub mod isa;
mod lanes;
pub mod lstm;
pub mod packed;
pub mod recurrent;
pub mod regression;
pub mod rmsprop;
pub mod sgd;
pub mod softmax;
