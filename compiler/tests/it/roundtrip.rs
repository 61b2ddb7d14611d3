//! Property tests: the printer and parser agree on every tree, and no input makes the
//! front end panic.

use compiler::span::Span;
use compiler::syntax::ast::{Block, File, Ident, Item, Stmt, Value, ValueKind};
use compiler::syntax::{parse, print};
use proptest::prelude::*;

use crate::{lstm_files, repo_root};

fn ident() -> impl Strategy<Value = Ident> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,8}".prop_map(|text| Ident {
        text,
        span: Span::default(),
    })
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(ValueKind::Int),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(ValueKind::Float),
        any::<String>().prop_map(ValueKind::Str),
        ident().prop_map(|i| ValueKind::Ident(i.text)),
        (any::<i64>(), any::<i64>()).prop_map(|(lo, hi)| ValueKind::Range(lo, hi)),
    ];
    let leaf = leaf.prop_map(|kind| Value {
        kind,
        span: Span::default(),
    });
    leaf.prop_recursive(3, 16, 4, |inner| {
        (ident(), prop::collection::vec(item_of(inner), 0..4)).prop_map(|(name, args)| Value {
            kind: ValueKind::Call(name, args),
            span: Span::default(),
        })
    })
}

fn item_of(value: impl Strategy<Value = Value>) -> impl Strategy<Value = Item> {
    (prop::option::of(ident()), value).prop_map(|(name, value)| Item {
        name,
        value,
        span: Span::default(),
    })
}

pub(crate) fn stmt() -> impl Strategy<Value = Stmt> {
    let flat =
        (ident(), prop::collection::vec(item_of(value()), 0..5)).prop_map(|(keyword, items)| {
            Stmt {
                keyword,
                items,
                block: None,
                span: Span::default(),
            }
        });
    flat.prop_recursive(2, 24, 4, |inner| {
        (
            ident(),
            prop::collection::vec(item_of(value()), 0..3),
            prop::collection::vec(inner, 0..4),
        )
            .prop_map(|(keyword, items, stmts)| Stmt {
                keyword,
                items,
                block: Some(Block {
                    stmts,
                    span: Span::default(),
                }),
                span: Span::default(),
            })
    })
}

proptest! {
    #[test]
    fn parse_of_print_is_identity(stmts in prop::collection::vec(stmt(), 0..6)) {
        let file = File { stmts };
        let text = print(&file);
        let (parsed, diagnostics) = parse(&text);
        prop_assert!(diagnostics.is_empty(), "{text}\n{diagnostics:#?}");
        prop_assert_eq!(parsed.without_spans(), file);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = compiler::compile(&bytes);
    }

    #[test]
    fn mutated_specs_never_panic(spec_index in 0usize..9, edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 1..6)) {
        let files = lstm_files(&repo_root().join("specs"));
        let mut bytes = std::fs::read(&files[spec_index]).unwrap();
        for (at, kind, byte) in edits {
            let at = at.index(bytes.len() + 1);
            mutate(&mut bytes, at, kind, byte);
        }
        let _ = compiler::compile(&bytes);
    }
}

/// One edit: insert a byte, delete a byte, overwrite a byte, or insert a digit run (the
/// edit most likely to turn a valid spec into one with absurd sizes).
pub fn mutate(bytes: &mut Vec<u8>, at: usize, kind: u8, byte: u8) {
    let at = at.min(bytes.len());
    match kind {
        0 => bytes.insert(at, byte),
        1 if at < bytes.len() => {
            bytes.remove(at);
        }
        2 if at < bytes.len() => bytes[at] = byte,
        _ => bytes
            .splice(at..at, b"99999999999".iter().copied())
            .for_each(drop),
    }
}

#[test]
fn printed_specs_parse_to_the_same_tree() {
    for path in lstm_files(&repo_root().join("specs")) {
        let text = std::fs::read_to_string(&path).unwrap();
        let (file, diagnostics) = parse(&text);
        assert!(diagnostics.is_empty());
        let (reparsed, _) = parse(&print(&file));
        assert_eq!(
            reparsed.without_spans(),
            file.without_spans(),
            "{}",
            path.display()
        );
    }
}
