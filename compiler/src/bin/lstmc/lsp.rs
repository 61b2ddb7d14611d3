//! `lstmc lsp`: a Language Server Protocol server over stdio (rust-analyzer's `lsp-server`
//! with `lsp-types`). It holds each open spec's text, and answers from `compiler::ide`:
//! diagnostics published on open and on every change (and cleared on close), inlay hints,
//! hover, completion and formatting. Positions are UTF-16, LSP's default. A request it
//! cannot read is answered with an error, a notification it cannot read is skipped, and a
//! body that is not a JSON-RPC message is answered with JSON-RPC's error, so that one bad
//! message does not end the session (`stdio`).

use std::collections::HashMap;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use compiler::ide::{self, LineIndex, Position};
use compiler::load::{Files, Folder, Unreadable};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response, ResponseError};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Exit,
    Notification as LspNotification, PublishDiagnostics,
};
use lsp_types::request::{
    Completion, Formatting, HoverRequest, InlayHintRequest, Request as LspRequest, Shutdown,
};
use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionOptions, CompletionResponse, Diagnostic,
    DiagnosticRelatedInformation, DiagnosticSeverity, Hover, HoverContents, InlayHint,
    InlayHintLabel, Location, MarkupContent, MarkupKind, OneOf, PublishDiagnosticsParams, Range,
    ServerCapabilities, TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit, Uri,
};

use crate::EXIT_USAGE_OR_IO;

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The exit code when the client ends the session without `shutdown` first: the LSP
/// specification's for `exit` before `shutdown`, and a client gone without either.
const EXIT_WITHOUT_SHUTDOWN: u8 = 1;

pub fn lsp() -> u8 {
    match serve() {
        Ok(true) => 0,
        Ok(false) => EXIT_WITHOUT_SHUTDOWN,
        Err(error) => {
            eprintln!("error: lstmc lsp: {error}");
            EXIT_USAGE_OR_IO
        }
    }
}

/// Serves until `exit` or the end of the input; whether `shutdown` came first.
fn serve() -> Result<bool, Failure> {
    let (connection, io_threads) = stdio();
    let completion = CompletionOptions {
        // A word's place is known once its `=`, the space before it or its call's `(` is.
        trigger_characters: Some(["=", " ", "("].map(String::from).to_vec()),
        ..CompletionOptions::default()
    };
    let capabilities = ServerCapabilities {
        // The whole text with every change: a spec is small, and is compiled whole anyway.
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(lsp_types::HoverProviderCapability::Simple(true)),
        completion_provider: Some(completion),
        document_formatting_provider: Some(OneOf::Left(true)),
        inlay_hint_provider: Some(OneOf::Left(true)),
        ..Default::default()
    };
    connection.initialize(serde_json::to_value(capabilities)?)?;
    let mut server = Server {
        connection: &connection,
        documents: HashMap::new(),
        shut_down: false,
    };
    // Not `Connection::handle_shutdown`: it ends the session on any message after
    // `shutdown` but `exit`, where a request should be refused and the session go on.
    for message in &connection.receiver {
        match message {
            Message::Request(request) => server.request(request)?,
            Message::Notification(notification) if notification.method == Exit::METHOD => break,
            Message::Notification(notification) => server.notification(notification)?,
            Message::Response(_) => {}
        }
    }
    let shut_down = server.shut_down;
    drop(server);
    drop(connection);
    for thread in io_threads {
        thread.join().map_err(|_| "an LSP I/O thread panicked")??;
    }
    Ok(shut_down)
}

/// The most a message may hold: far beyond any spec, and a bound on what a wrong
/// `Content-Length` makes the server wait for and allocate.
const MESSAGE_LIMIT: usize = 64 << 20;

/// `Connection::stdio`, but a body that is not JSON (-32700) or not a JSON-RPC message
/// (-32600) is answered with an error and skipped, where lsp-server's own reader ends the
/// session. Headers that cannot be read lose the framing: they are answered too, and end
/// the session. Its two threads, reading stdin and writing stdout, end with the input (or
/// after `exit`) and with the connection.
fn stdio() -> (Connection, [JoinHandle<io::Result<()>>; 2]) {
    let (server, client) = Connection::memory();
    let Connection {
        sender: to_server,
        receiver: from_server,
    } = client;
    let reader = std::thread::spawn(move || {
        let mut input = io::stdin().lock();
        loop {
            match read_frame(&mut input) {
                Ok(Some(Ok(message))) => {
                    let exit =
                        matches!(&message, Message::Notification(n) if n.method == Exit::METHOD);
                    if to_server.send(message).is_err() || exit {
                        return Ok(());
                    }
                }
                Ok(Some(Err((code, why)))) => refuse(code, &why)?,
                Ok(None) => return Ok(()),
                Err(error) if error.kind() == io::ErrorKind::InvalidData => {
                    refuse(PARSE_ERROR, &error.to_string())?;
                    return Err(error);
                }
                Err(error) => return Err(error),
            }
        }
    });
    let writer = std::thread::spawn(move || {
        for message in from_server {
            message.write(&mut io::stdout().lock())?;
        }
        Ok(())
    });
    (server, [reader, writer])
}

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;

/// One message from the input, `None` at its end: `Err((code, why))` for a body that is not
/// one (its length known, so the next message is found); an `InvalidData` error for headers
/// that cannot be read or a length past `MESSAGE_LIMIT`.
type Frame = Option<Result<Message, (i64, String)>>;

fn read_frame(input: &mut impl io::BufRead) -> io::Result<Frame> {
    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
    let mut length = None;
    loop {
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let Some(header) = line.strip_suffix("\r\n") else {
            return Err(invalid(format!("a header line without CRLF: {line:?}")));
        };
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(": ") else {
            return Err(invalid(format!("a header without `: `: {header:?}")));
        };
        if name.eq_ignore_ascii_case("Content-Length") {
            let size = value.parse::<usize>().ok().filter(|&n| n <= MESSAGE_LIMIT);
            length = Some(size.ok_or_else(|| invalid(format!("a Content-Length of {value:?}")))?);
        }
    }
    let length = length.ok_or_else(|| invalid("a message without Content-Length".into()))?;
    let mut body = vec![0; length];
    input.read_exact(&mut body)?;
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(error) => return Ok(Some(Err((PARSE_ERROR, format!("not JSON: {error}"))))),
    };
    Ok(Some(serde_json::from_value(value).map_err(|error| {
        (INVALID_REQUEST, format!("not a JSON-RPC message: {error}"))
    })))
}

/// JSON-RPC's answer to a message it cannot read, with no id to answer.
fn refuse(code: i64, why: &str) -> io::Result<()> {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code, "message": why },
    })
    .to_string();
    let mut out = io::stdout().lock();
    write!(out, "Content-Length: {}\r\n\r\n{body}", body.len())?;
    out.flush()
}

struct Server<'a> {
    connection: &'a Connection,
    /// Each open document's text.
    documents: HashMap<Uri, String>,
    /// Whether `shutdown` was asked: then only `exit` is expected.
    shut_down: bool,
}

/// The folder a file's data paths are read from, its own; none for a document that is not a
/// file (an editor's unsaved `untitled:` buffer).
fn folder_of(uri: &Uri) -> Option<Folder> {
    let is_file = uri.scheme().is_some_and(|scheme| scheme.as_str() == "file");
    let path = is_file.then(|| uri.path().as_estr().decode().into_string_lossy())?;
    Some(Folder::of(Path::new(path.as_ref())))
}

/// The data files of a spec that is not saved: an absolute path is read as it is, a
/// relative one leads nowhere, there being no spec's folder to start from.
struct Unsaved;

impl Files for Unsaved {
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, Unreadable> {
        if Path::new(path).is_absolute() {
            return Folder(PathBuf::new()).read(path, limit);
        }
        Err(Unreadable::new(
            "the spec is not saved, so it has no folder to read a relative path from",
            "save the spec (its data paths are relative to its own folder), or write an absolute path",
        ))
    }
}

fn lsp_position(position: Position) -> lsp_types::Position {
    lsp_types::Position::new(position.line, position.column)
}

fn lsp_range((start, end): (Position, Position)) -> Range {
    Range::new(lsp_position(start), lsp_position(end))
}

fn our_position(position: lsp_types::Position) -> Position {
    Position {
        line: position.line,
        column: position.character,
    }
}

/// A request's parameters, or the InvalidParams error that says why they are not.
fn params<R: LspRequest>(params: serde_json::Value) -> Result<R::Params, ResponseError> {
    serde_json::from_value(params)
        .map_err(|error| refusal(ErrorCode::InvalidParams, format!("{}: {error}", R::METHOD)))
}

/// A request's result, as JSON.
fn reply<R: LspRequest>(result: R::Result) -> Result<serde_json::Value, ResponseError> {
    serde_json::to_value(result)
        .map_err(|error| refusal(ErrorCode::InternalError, error.to_string()))
}

fn refusal(code: ErrorCode, message: String) -> ResponseError {
    ResponseError {
        code: code as i32,
        message,
        data: None,
    }
}

impl Server<'_> {
    fn notification(&mut self, notification: Notification) -> Result<(), Failure> {
        if self.shut_down {
            return Ok(());
        }
        match notification.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let Some(params) = self.read::<DidOpenTextDocument>(notification.params) else {
                    return Ok(());
                };
                let document = params.text_document;
                self.documents.insert(document.uri.clone(), document.text);
                self.publish(&document.uri)
            }
            DidChangeTextDocument::METHOD => {
                let Some(params) = self.read::<DidChangeTextDocument>(notification.params) else {
                    return Ok(());
                };
                // Full synchronisation: the last change is the whole text.
                let Some(change) = params.content_changes.into_iter().last() else {
                    return Ok(());
                };
                if change.range.is_some() {
                    eprintln!("lstmc lsp: a change of a range is skipped: the server asked for whole texts");
                    return Ok(());
                }
                let uri = params.text_document.uri;
                self.documents.insert(uri.clone(), change.text);
                self.publish(&uri)
            }
            DidCloseTextDocument::METHOD => {
                let Some(params) = self.read::<DidCloseTextDocument>(notification.params) else {
                    return Ok(());
                };
                let uri = params.text_document.uri;
                self.documents.remove(&uri);
                // A closed spec's diagnostics would otherwise stay in the editor's list.
                self.send_diagnostics(&uri, Vec::new())
            }
            _ => Ok(()),
        }
    }

    /// A notification's parameters; none, said on standard error, when they cannot be read.
    fn read<N: LspNotification>(&self, params: serde_json::Value) -> Option<N::Params> {
        match serde_json::from_value(params) {
            Ok(params) => Some(params),
            Err(error) => {
                eprintln!("lstmc lsp: {} skipped: {error}", N::METHOD);
                None
            }
        }
    }

    fn compiled(&self, uri: &Uri) -> Option<compiler::Compiled> {
        let bytes = self.documents.get(uri)?.as_bytes();
        Some(match folder_of(uri) {
            Some(folder) => compiler::compile_with(bytes, &folder),
            None => compiler::compile_with(bytes, &Unsaved),
        })
    }

    fn publish(&self, uri: &Uri) -> Result<(), Failure> {
        let Some(compiled) = self.compiled(uri) else {
            return Ok(());
        };
        let diagnostics = ide::diagnostics(&compiled)
            .into_iter()
            .map(|note| Diagnostic {
                range: lsp_range(note.range),
                severity: Some(DiagnosticSeverity::ERROR),
                source: Some("lstmc".into()),
                message: note.message,
                related_information: Some(
                    note.related
                        .into_iter()
                        .map(|(range, message)| DiagnosticRelatedInformation {
                            location: Location::new(uri.clone(), lsp_range(range)),
                            message,
                        })
                        .collect(),
                ),
                ..Default::default()
            })
            .collect();
        self.send_diagnostics(uri, diagnostics)
    }

    fn send_diagnostics(&self, uri: &Uri, diagnostics: Vec<Diagnostic>) -> Result<(), Failure> {
        let params = PublishDiagnosticsParams::new(uri.clone(), diagnostics, None);
        let notification = Notification::new(PublishDiagnostics::METHOD.into(), params);
        self.connection.sender.send(notification.into())?;
        Ok(())
    }

    fn request(&mut self, request: Request) -> Result<(), Failure> {
        let response = Response {
            id: request.id,
            response_result: self.answer(&request.method, request.params),
        };
        self.connection.sender.send(response.into())?;
        Ok(())
    }

    fn answer(
        &mut self,
        method: &str,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value, ResponseError> {
        if self.shut_down {
            let message = format!("{method} after shutdown: only exit is expected");
            return Err(refusal(ErrorCode::InvalidRequest, message));
        }
        match method {
            Shutdown::METHOD => {
                self.shut_down = true;
                reply::<Shutdown>(())
            }
            HoverRequest::METHOD => {
                reply::<HoverRequest>(self.hover(params::<HoverRequest>(payload)?))
            }
            Completion::METHOD => {
                reply::<Completion>(self.completion(params::<Completion>(payload)?))
            }
            Formatting::METHOD => {
                reply::<Formatting>(self.formatting(params::<Formatting>(payload)?))
            }
            InlayHintRequest::METHOD => {
                reply::<InlayHintRequest>(self.inlay_hints(params::<InlayHintRequest>(payload)?))
            }
            _ => {
                let message = format!("lstmc lsp does not answer {method}");
                Err(refusal(ErrorCode::MethodNotFound, message))
            }
        }
    }

    fn hover(&self, params: lsp_types::HoverParams) -> Option<Hover> {
        let at = params.text_document_position_params;
        let compiled = self.compiled(&at.text_document.uri)?;
        let offset = LineIndex::new(&compiled.text).offset(our_position(at.position));
        let value = ide::hover(&compiled, offset)?;
        Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value,
            }),
            range: None,
        })
    }

    /// The words that fit where the cursor is, each with its syntax and meaning.
    fn completion(&self, params: lsp_types::CompletionParams) -> Option<CompletionResponse> {
        let at = params.text_document_position;
        let text = self.documents.get(&at.text_document.uri)?;
        let offset = LineIndex::new(text).offset(our_position(at.position));
        let items: Vec<CompletionItem> = ide::completions(text, offset)
            .into_iter()
            .map(|entry| CompletionItem {
                label: entry.word,
                kind: Some(CompletionItemKind::KEYWORD),
                detail: Some(entry.syntax),
                documentation: Some(lsp_types::Documentation::MarkupContent(MarkupContent {
                    kind: MarkupKind::Markdown,
                    value: entry.meaning,
                })),
                ..Default::default()
            })
            .collect();
        Some(CompletionResponse::Array(items))
    }

    /// The edit `lstmc fmt` would make: none for a formatted spec.
    fn formatting(&self, params: lsp_types::DocumentFormattingParams) -> Option<Vec<TextEdit>> {
        let text = self.documents.get(&params.text_document.uri)?;
        // A spec that does not parse is left as it is; its diagnostics say why.
        let formatted = compiler::syntax::format(text).ok()?;
        if formatted == *text {
            return Some(Vec::new());
        }
        let index = LineIndex::new(text);
        let whole = (index.position(0), index.position(text.len()));
        Some(vec![TextEdit::new(lsp_range(whole), formatted)])
    }

    fn inlay_hints(&self, params: lsp_types::InlayHintParams) -> Option<Vec<InlayHint>> {
        let compiled = self.compiled(&params.text_document.uri)?;
        let hints = ide::inlay_hints(&compiled)
            .into_iter()
            .map(|hint| InlayHint {
                position: lsp_position(hint.position),
                label: InlayHintLabel::String(hint.label),
                kind: None,
                text_edits: None,
                tooltip: None,
                padding_left: Some(true),
                padding_right: None,
                data: None,
            })
            .collect();
        Some(hints)
    }
}
