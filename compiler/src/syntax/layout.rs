//! `lstmc fmt`: a spec in its canonical layout, its comments kept. Statements are printed
//! as `print` prints them, one a line, blocks indented by two spaces, with the keywords of
//! sibling statements padded to one column (`input  steps=5`, `lstm   32`, `data  source=`);
//! a comment on its own line stays before the statement it preceded, one after code stays
//! at the end of that line, and runs of blank lines between statements become one. A
//! statement written over several lines is printed on one: the comment ending its last line
//! ends that line, and the others inside it go on their own lines just above it, so that
//! they stay with it. A leading byte order mark is kept.

use super::ast::Stmt;
use super::parse;
use super::parser::BYTE_ORDER_MARK;
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
    // The mark is on no line of its own, so the body's lines number as the source's; the
    // spans count its bytes, so lines start where they do in the source.
    let body = source.strip_prefix(BYTE_ORDER_MARK).unwrap_or(source);
    let mut writer = Writer {
        line_starts: std::iter::once(0)
            .chain(source.match_indices('\n').map(|(at, _)| at + 1))
            .collect(),
        blank: body.lines().map(|l| l.trim().is_empty()).collect(),
        comments: comments(body),
        next: 0,
        out: source[..source.len() - body.len()].to_string(),
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

    /// Writes the comments on lines before `line` on their own lines, with the blank lines
    /// between them.
    fn comments_before(&mut self, line: usize, indent: usize) {
        while let Some(at) = self.next_comment_before(line) {
            self.gap(at);
            self.comment_line(indent);
            self.last_line = Some(at);
        }
    }

    /// Writes the comments inside a statement, on lines before `line`, on their own lines
    /// without blank lines, so that they stay with the statement that follows them.
    fn comments_inside(&mut self, line: usize, indent: usize) {
        while self.next_comment_before(line).is_some() {
            self.comment_line(indent);
        }
    }

    /// The source line of the next comment, if it is before `line`.
    fn next_comment_before(&self, line: usize) -> Option<usize> {
        self.comments
            .get(self.next)
            .map(|c| c.line)
            .filter(|&at| at < line)
    }

    /// Writes the next comment on a line of its own.
    fn comment_line(&mut self, indent: usize) {
        let text = self.comments[self.next].text.clone();
        self.out.push_str(&"  ".repeat(indent));
        self.out.push_str(&text);
        self.out.push('\n');
        self.next += 1;
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
        // The line the statement's printed line stands for: its last, or its `{`'s.
        let last = match &stmt.block {
            Some(block) => self.line_of(block.span.start),
            None => self.line_of(stmt.span.end.saturating_sub(1)),
        };
        self.comments_before(first, indent);
        self.gap(first);
        self.comments_inside(last, indent);
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
            self.end_line(last);
            return;
        };
        self.out.push_str(" {");
        self.end_line(last);
        self.last_line = None;
        self.siblings(&block.stmts, indent + 1);
        let close = self.line_of(block.span.end.saturating_sub(1));
        self.comments_before(close, indent + 1);
        self.out.push_str(&"  ".repeat(indent));
        self.out.push('}');
        self.end_line(close);
    }
}
