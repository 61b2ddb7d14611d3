//! The layer graph in Graphviz DOT, for `lstmc check --graph`.

use std::fmt::Write;

use petgraph::visit::EdgeRef;

use super::LayerGraph;
use crate::format::group;

/// One box per node (the layer as written and its parameter count), one arrow per tensor,
/// labelled with the shape its source outputs.
pub fn to_dot(name: &str, graph: &LayerGraph) -> String {
    let mut out = String::new();
    writeln!(out, "digraph {} {{", quote(name)).unwrap();
    writeln!(
        out,
        "  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];"
    )
    .unwrap();
    for index in graph.graph.node_indices() {
        let node = &graph.graph[index];
        let label = match node.params {
            0 => node.op.to_string(),
            params => format!("{}\\n{} params", node.op, group(params)),
        };
        writeln!(out, "  n{} [label={}];", index.index(), quote(&label)).unwrap();
    }
    for edge in graph.graph.edge_references() {
        let shape = graph.graph[edge.source()].output.to_string();
        writeln!(
            out,
            "  n{} -> n{} [label={}];",
            edge.source().index(),
            edge.target().index(),
            quote(&shape)
        )
        .unwrap();
    }
    out.push_str("}\n");
    out
}

/// A DOT string literal; `\n` in `text` is kept as DOT's line break.
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\\\""))
}
