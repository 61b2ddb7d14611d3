//! `lstmc fmt`: a spec in its canonical layout, its comments kept. Statements are printed
//! as `print` prints them, one a line, blocks indented by two spaces, with the keywords of
//! sibling statements padded to one column (`input  steps=5`, `lstm   32`, `data  source=`);
//! a comment on its own line stays before the statement it preceded, one after code stays
//! at the end of that line, and runs of blank lines between statements become one.

use super::ast::Stmt;
use super::parse;
use super::printer::print_items;
use crate::diagnostic::Diagnostic;

/// A `#` comment: the line it is on (from 0), its text from the `#`, and whether code comes
/// before it on that line.
struct Comment {
    line: usize,
    text: String,
    after_code: bool,
}

/// The comments of `source`, in order: a `#` outside a string starts one.
fn comments(source: &str) -> Vec<Comment> {
    let mut found = Vec::new();
    for (line, text) in source.lines().enumerate() {
        let (mut in_string, mut escaped) = (false, false);
        for (at, c) in text.char_indices() {
            match (in_string, escaped, c) {
                (true, true, _) => escaped = false,
                (true, false, '\\') => escaped = true,
                (true, false, '"') | (false, _, '"') => in_string = !in_string,
                (false, _, '#') => {
                    found.push(Comment {
                        line,
                        text: text[at..].trim_end().to_string(),
                        after_code: !text[..at].trim().is_empty(),
                    });
                    break;
                }
                _ => {}
            }
        }
    }
    found
}

/// `source` in the canonical layout, or its syntax errors.
pub fn format(source: &str) -> Result<String, Vec<Diagnostic>> {
    let (file, diagnostics) = parse(source);
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    let mut writer = Writer {
        line_starts: std::iter::once(0)
            .chain(source.match_indices('\n').map(|(at, _)| at + 1))
            .collect(),
        blank: source.lines().map(|l| l.trim().is_empty()).collect(),
        comments: comments(source),
        next: 0,
        out: String::new(),
        last_line: None,
    };
    writer.siblings(&file.stmts, 0);
    writer.comments_before(usize::MAX, 0);
    Ok(writer.out)
}

struct Writer {
    /// The byte at which each source line starts.
    line_starts: Vec<usize>,
    /// Whether each source line is blank.
    blank: Vec<bool>,
    comments: Vec<Comment>,
    /// The first comment not yet written.
    next: usize,
    out: String,
    /// The source line of what was written last; none at the start of a block.
    last_line: Option<usize>,
}

impl Writer {
    fn line_of(&self, offset: u32) -> usize {
        self.line_starts
            .partition_point(|&start| start <= offset as usize)
            - 1
    }

    fn siblings(&mut self, stmts: &[Stmt], indent: usize) {
        // At least as wide as `train` at the top and `repeat` in a block, so that specs
        // line up alike whichever keywords each one uses.
        let least = if indent == 0 { "train" } else { "repeat" }.len();
        let column = stmts
            .iter()
            .filter(|s| s.block.is_none())
            .map(|s| s.keyword.text.len())
            .fold(least, usize::max)
            + 1;
        for stmt in stmts {
            self.statement(stmt, indent, column);
        }
    }

    /// One blank line where the source had one or more since what was written last.
    fn gap(&mut self, line: usize) {
        if let Some(last) = self.last_line {
            if (last + 1..line).any(|l| self.blank[l]) {
                self.out.push('\n');
            }
        }
    }

    /// Writes the comments on lines before `line` on their own lines.
    fn comments_before(&mut self, line: usize, indent: usize) {
        while let Some(comment) = self.comments.get(self.next).filter(|c| c.line < line) {
            let (at, text) = (comment.line, comment.text.clone());
            self.gap(at);
            self.out.push_str(&"  ".repeat(indent));
            self.out.push_str(&text);
            self.out.push('\n');
            self.last_line = Some(at);
            self.next += 1;
        }
    }

    /// Ends the current line with the comment after code on source line `line`, if any.
    fn end_line(&mut self, line: usize) {
        match self.comments.get(self.next) {
            Some(c) if c.line == line && c.after_code => {
                self.out.push(' ');
                self.out.push_str(&c.text.clone());
                self.next += 1;
            }
            _ => {}
        }
        self.out.push('\n');
        self.last_line = Some(line);
    }

    fn statement(&mut self, stmt: &Stmt, indent: usize, column: usize) {
        let first = self.line_of(stmt.span.start);
        self.comments_before(first, indent);
        self.gap(first);
        self.out.push_str(&"  ".repeat(indent));
        let keyword = &stmt.keyword.text;
        self.out.push_str(keyword);
        if !stmt.items.is_empty() {
            let width = match stmt.block {
                Some(_) => keyword.len() + 1,
                None => column,
            };
            self.out.push_str(&" ".repeat(width - keyword.len()));
            print_items(&mut self.out, &stmt.items);
        }
        let Some(block) = &stmt.block else {
            let last = self.line_of(stmt.span.end.saturating_sub(1));
            // Comments inside a statement written over several lines follow it.
            self.end_line(last);
            self.comments_before(last + 1, indent);
            return;
        };
        self.out.push_str(" {");
        self.end_line(self.line_of(block.span.start));
        self.last_line = None;
        self.siblings(&block.stmts, indent + 1);
        let close = self.line_of(block.span.end.saturating_sub(1));
        self.comments_before(close, indent + 1);
        self.out.push_str(&"  ".repeat(indent));
        self.out.push('}');
        self.end_line(close);
    }
}
