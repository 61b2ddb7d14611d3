//! The lstmc runtime: executes a lowered `Plan`. It draws and frames the data, initialises
//! the model as Keras does, trains it with stateful carry-over and state resets, and
//! evaluates it.
//!
//! The runtime never sees source text or spans: the compiler checked the spec, and the plan's
//! shapes are trusted. Buffers are allocated once per batch size; a training step allocates
//! nothing.

pub mod controls;
pub mod data;
pub mod init;
pub(crate) mod layers;
pub mod model;
pub mod optimizer;
pub mod plan;
pub mod shapes;
pub mod threads;
pub mod trace;
pub mod train;
