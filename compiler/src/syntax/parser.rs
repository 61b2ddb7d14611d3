//! The parser: nom lexeme parsers under a recursive descent that recovers at line ends.
//!
//! Parsing never fails: it returns the statements it could read and a diagnostic for each
//! line it could not, so one run reports every syntax error in a file. It does not know
//! which keywords or options exist; `spec::resolve` does.
//!
//! Grammar (the full one, with the meaning of each statement, is in `specs/README.md`):
//!
//! ```text
//! file   = { stmt }
//! stmt   = IDENT { item } [ block ] (NEWLINE | EOF)
//! block  = "{" { stmt } "}"
//! item   = [ IDENT "=" ] value
//! value  = INT | FLOAT | STRING | INT ".." INT | IDENT | IDENT "(" [ item { "," item } [","] ] ")"
//! ```
//!
//! Newlines end statements except inside parentheses; `#` starts a comment to the line end.
//! A newline is LF or CRLF. A lone CR outside a string is an error, not a third line end,
//! since diagnostics, the language server and the formatter all count lines by LF, and
//! reading it as a blank would silently join the two lines it separates. A leading UTF-8
//! byte order mark is skipped, as editors that write it hide it; spans still count its
//! three bytes, so they stay offsets into the text as read.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, digit1, one_of, satisfy};
use nom::combinator::{opt, peek, recognize};
use nom::sequence::terminated;
use nom::{IResult, Parser as _};

use super::ast::{Block, File, Ident, Item, Stmt, Value, ValueKind};
use crate::diagnostic::Diagnostic;
use crate::span::Span;

/// The byte order mark some editors write at the start of a UTF-8 file.
pub(super) const BYTE_ORDER_MARK: char = '\u{feff}';

/// Blocks nest at most this deep; deeper input is refused rather than risking the stack.
const MAX_DEPTH: usize = 32;

/// Parses a whole spec. Never fails: unreadable lines become diagnostics and are skipped.
pub fn parse(source: &str) -> (File, Vec<Diagnostic>) {
    let mut parser = Parser {
        source,
        diagnostics: Vec::new(),
    };
    let stmts = parser.top_level(source.strip_prefix(BYTE_ORDER_MARK).unwrap_or(source));
    (File { stmts }, parser.diagnostics)
}

type PResult<'a, T> = Result<(&'a str, T), Diagnostic>;

struct Parser<'a> {
    source: &'a str,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Parser<'a> {
    fn offset(&self, rest: &str) -> usize {
        self.source.len() - rest.len()
    }

    fn span(&self, start: &str, end: &str) -> Span {
        Span::new(self.offset(start), self.offset(end))
    }

    fn top_level(&mut self, mut input: &'a str) -> Vec<Stmt> {
        let mut stmts = Vec::new();
        loop {
            input = skip_space(input, true);
            if input.is_empty() {
                return stmts;
            }
            if input.starts_with('}') {
                let at = self.offset(input);
                self.diagnostics.push(
                    Diagnostic::error(
                        "unexpected '}'",
                        Span::new(at, at + 1),
                        "no block is open here",
                    )
                    .with_help("remove it, or open a block with `model NAME {`"),
                );
                input = &input[1..];
                continue;
            }
            input = self.stmt_or_recover(input, 0, &mut stmts);
        }
    }

    /// Parses one statement into `stmts`, or records why not and skips to the next line.
    fn stmt_or_recover(&mut self, input: &'a str, depth: usize, stmts: &mut Vec<Stmt>) -> &'a str {
        match self.stmt(input, depth) {
            Ok((rest, stmt)) => {
                stmts.push(stmt);
                rest
            }
            Err(diagnostic) => {
                let at = diagnostic.primary.span.start as usize;
                self.diagnostics.push(diagnostic);
                skip_line(&self.source[at.max(self.offset(input))..])
            }
        }
    }

    fn stmt(&mut self, input: &'a str, depth: usize) -> PResult<'a, Stmt> {
        let (mut rest, keyword) = self.ident(input).ok_or_else(|| {
            self.expected("a statement keyword such as `model` or `train`", input)
        })?;
        let mut end = keyword.span;
        let mut items = Vec::new();
        let mut block = None;
        loop {
            rest = skip_space(rest, false);
            if at_line_end(rest) {
                break;
            }
            if rest.starts_with('{') {
                let (after, parsed) = self.block(rest, depth + 1)?;
                end = parsed.span;
                block = Some(parsed);
                rest = skip_space(after, false);
                if !at_line_end(rest) {
                    return Err(self.expected("the end of the line after '}'", rest));
                }
                break;
            }
            let (after, item) = self.item(rest, depth)?;
            end = item.span;
            items.push(item);
            rest = after;
        }
        let span = keyword.span.to(end);
        Ok((
            rest,
            Stmt {
                keyword,
                items,
                block,
                span,
            },
        ))
    }

    fn block(&mut self, input: &'a str, depth: usize) -> PResult<'a, Block> {
        let open = Span::new(self.offset(input), self.offset(input) + 1);
        if depth > MAX_DEPTH {
            return Err(
                Diagnostic::error("blocks nested too deeply", open, "too deep")
                    .with_help(format!("blocks nest at most {MAX_DEPTH} deep")),
            );
        }
        let mut rest = &input[1..];
        let mut stmts = Vec::new();
        loop {
            rest = skip_space(rest, true);
            if rest.is_empty() {
                let eof = Span::point(self.source.len());
                return Err(Diagnostic::error(
                    "unclosed block",
                    eof,
                    "end of file inside the block",
                )
                .with_note_at(open, "this '{' is never closed")
                .with_help("add a '}' after the block's last line"));
            }
            if let Some(after) = rest.strip_prefix('}') {
                let span = open.to(Span::point(self.offset(after)));
                return Ok((after, Block { stmts, span }));
            }
            rest = self.stmt_or_recover(rest, depth, &mut stmts);
        }
    }

    fn item(&mut self, input: &'a str, depth: usize) -> PResult<'a, Item> {
        if let Some((after_name, name)) = self.ident(input) {
            let after_eq = skip_space(after_name, false);
            if let Some(value_start) = after_eq.strip_prefix('=') {
                let value_start = skip_space(value_start, false);
                let (rest, value) = self.value(value_start, depth)?;
                let span = self.span(input, rest);
                return Ok((
                    rest,
                    Item {
                        name: Some(name),
                        value,
                        span,
                    },
                ));
            }
        }
        let (rest, value) = self.value(input, depth)?;
        Ok((
            rest,
            Item {
                name: None,
                span: value.span,
                value,
            },
        ))
    }

    fn value(&mut self, input: &'a str, depth: usize) -> PResult<'a, Value> {
        if input.starts_with('"') {
            return self.string(input);
        }
        if input.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
            return self.number_or_range(input);
        }
        let Some((rest, name)) = self.ident(input) else {
            return Err(self.expected("a value", input));
        };
        if rest.starts_with('(') {
            return self.call(input, rest, name, depth);
        }
        let span = name.span;
        Ok((
            rest,
            Value {
                kind: ValueKind::Ident(name.text),
                span,
            },
        ))
    }

    fn call(
        &mut self,
        start: &'a str,
        input: &'a str,
        name: Ident,
        depth: usize,
    ) -> PResult<'a, Value> {
        let open = Span::new(self.offset(input), self.offset(input) + 1);
        if depth > MAX_DEPTH {
            return Err(
                Diagnostic::error("calls nested too deeply", open, "too deep")
                    .with_help(format!("calls nest at most {MAX_DEPTH} deep")),
            );
        }
        let mut rest = skip_space(&input[1..], true);
        let mut args = Vec::new();
        loop {
            if let Some(after) = rest.strip_prefix(')') {
                let span = self.span(start, after);
                return Ok((
                    after,
                    Value {
                        kind: ValueKind::Call(name, args),
                        span,
                    },
                ));
            }
            let (after, arg) = self
                .item(rest, depth + 1)
                .map_err(|d| self.unclosed_if_eof(d, open))?;
            args.push(arg);
            rest = skip_space(after, true);
            if let Some(after_comma) = rest.strip_prefix(',') {
                rest = skip_space(after_comma, true);
            } else if !rest.starts_with(')') {
                return Err(self.unclosed_if_eof(self.expected("',' or ')'", rest), open));
            }
        }
    }

    /// At end of file, an error inside a call is really an unclosed parenthesis.
    fn unclosed_if_eof(&self, diagnostic: Diagnostic, open: Span) -> Diagnostic {
        if diagnostic.primary.span.start as usize == self.source.len() {
            diagnostic.with_note_at(open, "this '(' is never closed")
        } else {
            diagnostic
        }
    }

    fn string(&mut self, input: &'a str) -> PResult<'a, Value> {
        let mut text = String::new();
        let mut chars = input.char_indices().skip(1);
        while let Some((at, c)) = chars.next() {
            match c {
                '"' => {
                    let rest = &input[at + 1..];
                    let span = self.span(input, rest);
                    return Ok((
                        rest,
                        Value {
                            kind: ValueKind::Str(text),
                            span,
                        },
                    ));
                }
                '\\' => match chars.next() {
                    Some((_, '"')) => text.push('"'),
                    Some((_, '\\')) => text.push('\\'),
                    Some((_, 'n')) => text.push('\n'),
                    Some((_, 't')) => text.push('\t'),
                    Some((escape_at, other)) => {
                        let start = self.offset(input) + escape_at - 1;
                        return Err(Diagnostic::error(
                            format!("unknown escape '\\{other}' in string"),
                            Span::new(start, start + 1 + other.len_utf8()),
                            "unknown escape",
                        )
                        .with_help(r#"strings know the escapes \" \\ \n \t"#));
                    }
                    None => break,
                },
                '\n' => break,
                _ => text.push(c),
            }
        }
        let start = self.offset(input);
        let end = start + input.find('\n').unwrap_or(input.len());
        Err(Diagnostic::error(
            "unterminated string",
            Span::new(start, end),
            "the string starts here",
        )
        .with_help("close it with '\"' before the end of the line"))
    }

    fn number_or_range(&mut self, input: &'a str) -> PResult<'a, Value> {
        let Ok((rest, text)) = number(input) else {
            return Err(self.expected("a number", input));
        };
        let span = self.span(input, rest);
        let is_float = text.contains(['.', 'e', 'E']);
        if let Some(after_dots) = rest.strip_prefix("..") {
            let (end_rest, end_text) = number(after_dots)
                .map_err(|_| self.expected("the end of the range", after_dots))?;
            let whole = self.span(input, end_rest);
            if is_float || end_text.contains(['.', 'e', 'E']) {
                return Err(Diagnostic::error(
                    "range bounds must be integers",
                    whole,
                    "not integers",
                )
                .with_help("write a range as `0..100`"));
            }
            let lo = self.int(text, span)?;
            let hi = self.int(end_text, self.span(after_dots, end_rest))?;
            return Ok((
                end_rest,
                Value {
                    kind: ValueKind::Range(lo, hi),
                    span: whole,
                },
            ));
        }
        let kind = if is_float {
            ValueKind::Float(self.float(text, span)?)
        } else {
            ValueKind::Int(self.int(text, span)?)
        };
        if rest.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            return Err(self.expected("a space or ',' after the number", rest));
        }
        Ok((rest, Value { kind, span }))
    }

    fn int(&self, text: &str, span: Span) -> Result<i64, Diagnostic> {
        text.parse::<i64>().map_err(|_| {
            Diagnostic::error("integer too large", span, "does not fit in 64 bits").with_help(
                format!("integers lie between {} and {}", i64::MIN, i64::MAX),
            )
        })
    }

    fn float(&self, text: &str, span: Span) -> Result<f64, Diagnostic> {
        match text.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(x),
            _ => Err(Diagnostic::error(
                "number out of range",
                span,
                "not a finite 64-bit float",
            )),
        }
    }

    fn ident(&self, input: &'a str) -> Option<(&'a str, Ident)> {
        let (rest, text) = identifier(input).ok()?;
        Some((
            rest,
            Ident {
                text: text.to_string(),
                span: self.span(input, rest),
            },
        ))
    }

    /// "expected X, found Y" at the start of `input`. Outside a string no lexeme takes a
    /// lone CR, so every path the parser takes to one ends here, where it is reported.
    fn expected(&self, what: &str, input: &str) -> Diagnostic {
        let at = self.offset(input);
        if input.starts_with('\r') && !input.starts_with("\r\n") {
            return Diagnostic::error(
                "a carriage return without a line feed",
                Span::new(at, at + 1),
                "a lone CR",
            )
            .with_help(
                "end lines with LF or CRLF: save the file with Unix or Windows line endings",
            );
        }
        let (found, width) = describe_next(input);
        Diagnostic::error(
            format!("expected {what}, found {found}"),
            Span::new(at, at + width),
            format!("expected {what}"),
        )
    }
}

fn identifier(input: &str) -> IResult<&str, &str> {
    recognize((
        satisfy(|c| c.is_ascii_alphabetic() || c == '_'),
        take_while(|c: char| c.is_ascii_alphanumeric() || c == '_'),
    ))
    .parse(input)
}

/// `-?digits[.digits][e[+-]digits]`. The fraction needs a digit, so `0..5` is a range.
fn number(input: &str) -> IResult<&str, &str> {
    recognize((
        opt(char('-')),
        digit1,
        opt((char('.'), digit1)),
        opt((one_of("eE"), opt(one_of("+-")), digit1)),
    ))
    .parse(input)
}

/// A comment stops at a CR too, so that a lone one after it is reported, not commented out.
fn comment(input: &str) -> IResult<&str, &str> {
    recognize((char('#'), take_while(|c| c != '\n' && c != '\r'))).parse(input)
}

/// The CR of a CRLF, which leaves the LF to end the line.
fn crlf_cr(input: &str) -> IResult<&str, char> {
    terminated(char('\r'), peek(char('\n'))).parse(input)
}

/// Skips blanks and comments, and newlines too when `newlines` is set.
fn skip_space(mut input: &str, newlines: bool) -> &str {
    loop {
        let blank = |c: char| c == ' ' || c == '\t' || (newlines && c == '\n');
        let step: IResult<&str, &str> =
            alt((take_while1(blank), comment, recognize(crlf_cr))).parse(input);
        match step {
            Ok((rest, _)) => input = rest,
            Err(_) => return input,
        }
    }
}

fn at_line_end(input: &str) -> bool {
    input.is_empty() || input.starts_with('\n') || input.starts_with('}')
}

/// The remainder after the next newline, where parsing resumes after an error.
fn skip_line(input: &str) -> &str {
    let rest: IResult<&str, &str> = take_while(|c| c != '\n').parse(input);
    match rest {
        Ok((rest, _)) => tag::<_, _, nom::error::Error<&str>>("\n")
            .parse(rest)
            .map_or(rest, |(r, _)| r),
        Err(_) => "",
    }
}

/// How to name the next thing in the input in "found ..." and how wide its caret is.
fn describe_next(input: &str) -> (String, usize) {
    match input.chars().next() {
        None => ("end of file".to_string(), 0),
        Some('\n') | Some('\r') => ("end of line".to_string(), 0),
        Some(c) => {
            if let Ok((_, word)) = identifier(input) {
                (format!("`{word}`"), word.len())
            } else if c.is_control() {
                (format!("control character {:?}", c), c.len_utf8())
            } else {
                (format!("'{c}'"), c.len_utf8())
            }
        }
    }
}
