//! f32 kernels for training LSTM sequence models on CPUs: matrix multiply, the LSTM layer
//! forward and backward, dense, softmax with cross-entropy, the regression losses (mean
//! squared and mean absolute error), Adam, and row gather.
//! Also the other optimizers (SGD, RMSprop, AdamW), gradient clipping, dense activations
//! forward and backward, and binary cross-entropy fused with the sigmoid.
//!
//! Each kernel is vectorised with `wide` (`f32x8`; AVX2 + FMA with the workspace's target
//! features) and has a plain scalar reference in `generic`, against which the tests check it.
//! This crate knows nothing of specs, graphs or plans: it computes on slices.
//!
//! Conventions, everywhere:
//! - dims: T time steps, B batch rows, I inputs, H hidden units, O outputs, C classes;
//! - gates `[4H]` in the order i, f, g, o (input, forget, cell candidate, output), as
//!   Keras and PyTorch;
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
mod lanes;
pub mod lstm;
pub mod packed;
pub mod regression;
pub mod rmsprop;
pub mod sgd;
pub mod softmax;
