//! The printer: the canonical text of a syntax tree, which parses back to the same tree.

use std::fmt::Write;

use super::ast::{File, Item, Stmt, Value, ValueKind};

/// Prints `file` one statement a line, blocks indented by two spaces, items separated by
/// one space. `parse(print(f))` gives `f` back, spans aside.
pub fn print(file: &File) -> String {
    let mut out = String::new();
    for stmt in &file.stmts {
        print_stmt(&mut out, stmt, 0);
    }
    out
}

fn print_stmt(out: &mut String, stmt: &Stmt, indent: usize) {
    out.push_str(&"  ".repeat(indent));
    out.push_str(&stmt.keyword.text);
    if !stmt.items.is_empty() {
        out.push(' ');
        print_items(out, &stmt.items);
    }
    if let Some(block) = &stmt.block {
        out.push_str(" {\n");
        for inner in &block.stmts {
            print_stmt(out, inner, indent + 1);
        }
        out.push_str(&"  ".repeat(indent));
        out.push('}');
    }
    out.push('\n');
}

/// A statement's items, separated by one space.
pub(super) fn print_items(out: &mut String, items: &[Item]) {
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push(' ');
        }
        print_item(out, item);
    }
}

fn print_item(out: &mut String, item: &Item) {
    if let Some(name) = &item.name {
        out.push_str(&name.text);
        out.push('=');
    }
    print_value(out, &item.value);
}

fn print_value(out: &mut String, value: &Value) {
    match &value.kind {
        ValueKind::Int(n) => write!(out, "{n}").unwrap(),
        // Debug prints the shortest text that reads back as the same f64, and always
        // with a '.' or an exponent, so it parses as a float again.
        ValueKind::Float(x) => write!(out, "{x:?}").unwrap(),
        ValueKind::Str(text) => print_string(out, text),
        ValueKind::Ident(name) => out.push_str(name),
        ValueKind::Range(lo, hi) => write!(out, "{lo}..{hi}").unwrap(),
        ValueKind::Call(name, args) => {
            out.push_str(&name.text);
            out.push('(');
            for (index, arg) in args.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                print_item(out, arg);
            }
            out.push(')');
        }
    }
}

fn print_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
}
