//! `lstmc lsp`: a Language Server Protocol server over stdio (rust-analyzer's `lsp-server`
//! with `lsp-types`). It holds each open spec's text, and answers from `compiler::ide`:
//! diagnostics published on open and on every change, inlay hints, hover, completion and
//! formatting. Positions are UTF-16, LSP's default.

use std::collections::HashMap;
use std::path::PathBuf;

use compiler::ide::{self, LineIndex, Position};
use compiler::load::Folder;
use lsp_server::{Connection, Message, Notification, Request, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Notification as _,
    PublishDiagnostics,
};
use lsp_types::request::{Completion, Formatting, HoverRequest, InlayHintRequest, Request as _};
use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionResponse, Diagnostic,
    DiagnosticRelatedInformation, DiagnosticSeverity, Hover, HoverContents, InlayHint,
    InlayHintLabel, Location, MarkupContent, MarkupKind, OneOf, PublishDiagnosticsParams, Range,
    ServerCapabilities, TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit, Uri,
};

use crate::EXIT_USAGE_OR_IO;

type Failure = Box<dyn std::error::Error + Send + Sync>;

pub fn lsp() -> u8 {
    match serve() {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("error: lstmc lsp: {error}");
            EXIT_USAGE_OR_IO
        }
    }
}

fn serve() -> Result<(), Failure> {
    let (connection, io_threads) = Connection::stdio();
    let capabilities = ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(lsp_types::HoverProviderCapability::Simple(true)),
        completion_provider: Some(lsp_types::CompletionOptions::default()),
        document_formatting_provider: Some(OneOf::Left(true)),
        inlay_hint_provider: Some(OneOf::Left(true)),
        ..Default::default()
    };
    connection.initialize(serde_json::to_value(capabilities)?)?;
    let mut server = Server {
        connection: &connection,
        documents: HashMap::new(),
    };
    for message in &connection.receiver {
        match message {
            Message::Request(request) => {
                if connection.handle_shutdown(&request)? {
                    break;
                }
                server.request(request)?;
            }
            Message::Notification(notification) => server.notification(notification)?,
            Message::Response(_) => {}
        }
    }
    drop(server);
    drop(connection);
    io_threads.join()?;
    Ok(())
}

struct Server<'a> {
    connection: &'a Connection,
    /// Each open document's text.
    documents: HashMap<Uri, String>,
}

/// The folder a spec's data paths are read from: its own, for a file.
fn folder_of(uri: &Uri) -> Folder {
    let is_file = uri.scheme().is_some_and(|scheme| scheme.as_str() == "file");
    let path = is_file.then(|| uri.path().as_estr().decode().into_string_lossy());
    let folder = path
        .as_deref()
        .and_then(|p| std::path::Path::new(p).parent())
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    Folder(folder)
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

impl Server<'_> {
    fn notification(&mut self, notification: Notification) -> Result<(), Failure> {
        match notification.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let params: lsp_types::DidOpenTextDocumentParams =
                    serde_json::from_value(notification.params)?;
                let document = params.text_document;
                self.documents.insert(document.uri.clone(), document.text);
                self.publish(&document.uri)
            }
            DidChangeTextDocument::METHOD => {
                let params: lsp_types::DidChangeTextDocumentParams =
                    serde_json::from_value(notification.params)?;
                // Full synchronisation: the last change is the whole text.
                if let Some(change) = params.content_changes.into_iter().last() {
                    let uri = params.text_document.uri;
                    self.documents.insert(uri.clone(), change.text);
                    self.publish(&uri)?;
                }
                Ok(())
            }
            DidCloseTextDocument::METHOD => {
                let params: lsp_types::DidCloseTextDocumentParams =
                    serde_json::from_value(notification.params)?;
                self.documents.remove(&params.text_document.uri);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn compiled(&self, uri: &Uri) -> Option<compiler::Compiled> {
        let text = self.documents.get(uri)?;
        Some(compiler::compile_with(text.as_bytes(), &folder_of(uri)))
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
        let params = PublishDiagnosticsParams::new(uri.clone(), diagnostics, None);
        let notification = Notification::new(PublishDiagnostics::METHOD.into(), params);
        self.connection.sender.send(notification.into())?;
        Ok(())
    }

    fn request(&mut self, request: Request) -> Result<(), Failure> {
        let id = request.id.clone();
        let result = match request.method.as_str() {
            HoverRequest::METHOD => self.hover(request.params)?,
            Completion::METHOD => self.completion(request.params)?,
            Formatting::METHOD => self.formatting(request.params)?,
            InlayHintRequest::METHOD => self.inlay_hints(request.params)?,
            _ => {
                let message = format!("lstmc lsp does not answer {}", request.method);
                return self.respond(Response::new_err(
                    id,
                    lsp_server::ErrorCode::MethodNotFound as i32,
                    message,
                ));
            }
        };
        self.respond(Response::new_ok(id, result))
    }

    fn respond(&self, response: Response) -> Result<(), Failure> {
        self.connection.sender.send(response.into())?;
        Ok(())
    }

    fn hover(&self, params: serde_json::Value) -> Result<serde_json::Value, Failure> {
        let params: lsp_types::HoverParams = serde_json::from_value(params)?;
        let at = params.text_document_position_params;
        let Some(compiled) = self.compiled(&at.text_document.uri) else {
            return Ok(serde_json::Value::Null);
        };
        let offset = LineIndex::new(&compiled.text).offset(our_position(at.position));
        let hover = ide::hover(&compiled, offset).map(|value| Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value,
            }),
            range: None,
        });
        Ok(serde_json::to_value(hover)?)
    }

    /// After `option=`, the option's values; elsewhere every word of the language, each
    /// with its syntax and meaning.
    fn completion(&self, params: serde_json::Value) -> Result<serde_json::Value, Failure> {
        let params: lsp_types::CompletionParams = serde_json::from_value(params)?;
        let at = params.text_document_position;
        let Some(text) = self.documents.get(&at.text_document.uri) else {
            return Ok(serde_json::Value::Null);
        };
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
        Ok(serde_json::to_value(CompletionResponse::Array(items))?)
    }

    fn formatting(&self, params: serde_json::Value) -> Result<serde_json::Value, Failure> {
        let params: lsp_types::DocumentFormattingParams = serde_json::from_value(params)?;
        let Some(text) = self.documents.get(&params.text_document.uri) else {
            return Ok(serde_json::Value::Null);
        };
        // A spec that does not parse is left as it is; its diagnostics say why.
        let Ok(formatted) = compiler::syntax::format(text) else {
            return Ok(serde_json::Value::Null);
        };
        let index = LineIndex::new(text);
        let whole = (index.position(0), index.position(text.len()));
        let edits = vec![TextEdit::new(lsp_range(whole), formatted)];
        Ok(serde_json::to_value(edits)?)
    }

    fn inlay_hints(&self, params: serde_json::Value) -> Result<serde_json::Value, Failure> {
        let params: lsp_types::InlayHintParams = serde_json::from_value(params)?;
        let Some(compiled) = self.compiled(&params.text_document.uri) else {
            return Ok(serde_json::Value::Null);
        };
        let hints: Vec<InlayHint> = ide::inlay_hints(&compiled)
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
        Ok(serde_json::to_value(hints)?)
    }
}
