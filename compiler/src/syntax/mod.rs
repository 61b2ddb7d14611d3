//! The surface syntax of `.lstm` files: a generic tree of statements and its parser and
//! printer.
//!
//! This layer knows the lexical rules and the shape of a statement, and nothing of what the
//! words mean: `lstm 32 stateful` and `train epochs=5` are both a keyword followed by items.
//! Meaning (which sections, layers and options exist) is given in `spec::resolve`.

pub mod ast;
mod layout;
mod parser;
mod printer;

pub use layout::format;
pub use parser::parse;
pub use printer::print;
