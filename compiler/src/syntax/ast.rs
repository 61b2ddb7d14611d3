//! The syntax tree: statements made of `[name =] value` items, with optional `{ }` blocks.
//!
//! Every node keeps its byte span, so later stages can point at what the user wrote.

use crate::span::Span;

/// A whole spec file: its top-level statements in source order.
#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub stmts: Vec<Stmt>,
}

/// `keyword item* [ "{" stmt* "}" ]`, ended by a newline or the closing brace of a block.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub keyword: Ident,
    pub items: Vec<Item>,
    pub block: Option<Block>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    /// From the `{` to the `}`.
    pub span: Span,
}

/// `value` or `name = value`: the arguments of a statement and of a call alike.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub name: Option<Ident>,
    pub value: Value,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub text: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ValueKind {
    Int(i64),
    Float(f64),
    Str(String),
    Ident(String),
    /// `lo..hi`, end exclusive.
    Range(i64, i64),
    /// `name(item, ...)`.
    Call(Ident, Vec<Item>),
}

impl ValueKind {
    /// How the value is called in "expected a number, found a string" messages.
    pub fn describe(&self) -> &'static str {
        match self {
            ValueKind::Int(_) => "an integer",
            ValueKind::Float(_) => "a number",
            ValueKind::Str(_) => "a string",
            ValueKind::Ident(_) => "a name",
            ValueKind::Range(..) => "a range",
            ValueKind::Call(..) => "a call",
        }
    }
}

impl File {
    /// The same tree with every span set to zero, for comparing trees parsed from
    /// differently formatted text.
    pub fn without_spans(&self) -> File {
        File {
            stmts: self.stmts.iter().map(Stmt::without_spans).collect(),
        }
    }
}

impl Stmt {
    fn without_spans(&self) -> Stmt {
        Stmt {
            keyword: self.keyword.without_spans(),
            items: self.items.iter().map(Item::without_spans).collect(),
            block: self.block.as_ref().map(|block| Block {
                stmts: block.stmts.iter().map(Stmt::without_spans).collect(),
                span: Span::default(),
            }),
            span: Span::default(),
        }
    }
}

impl Item {
    fn without_spans(&self) -> Item {
        Item {
            name: self.name.as_ref().map(Ident::without_spans),
            value: self.value.without_spans(),
            span: Span::default(),
        }
    }
}

impl Ident {
    fn without_spans(&self) -> Ident {
        Ident {
            text: self.text.clone(),
            span: Span::default(),
        }
    }
}

impl Value {
    fn without_spans(&self) -> Value {
        let kind = match &self.kind {
            ValueKind::Call(name, items) => ValueKind::Call(
                name.without_spans(),
                items.iter().map(Item::without_spans).collect(),
            ),
            other => other.clone(),
        };
        Value {
            kind,
            span: Span::default(),
        }
    }
}
