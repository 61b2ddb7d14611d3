//! `lstmc lsp` driven over stdio as an editor drives it: initialize, open a spec with an
//! error, receive its diagnostic, fix it with a change, receive none, ask for inlay hints,
//! hover, completion and formatting, shut down; every response checked.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{json, Value};

use crate::repo_root;

struct Client {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Client {
    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let message = self.receive();
            if message["id"] == json!(id) {
                assert!(message.get("error").is_none(), "{method}: {message}");
                return message["result"].clone();
            }
        }
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    fn receive(&mut self) -> Value {
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.stdout.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(value) = line.strip_prefix("Content-Length: ") {
                length = value.parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.stdout.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    /// The next diagnostics the server publishes.
    fn diagnostics(&mut self) -> Vec<Value> {
        loop {
            let message = self.receive();
            if message["method"] == "textDocument/publishDiagnostics" {
                return message["params"]["diagnostics"].as_array().unwrap().clone();
            }
        }
    }
}

#[test]
fn an_editor_session() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lstmc"))
        .arg("lsp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut client = Client {
        stdin: child.stdin.take().unwrap(),
        stdout: BufReader::new(child.stdout.take().unwrap()),
    };
    let initialized = client.request(1, "initialize", json!({"capabilities": {}}));
    let capabilities = &initialized["capabilities"];
    for capability in [
        "hoverProvider",
        "completionProvider",
        "documentFormattingProvider",
        "inlayHintProvider",
    ] {
        assert!(
            capabilities.get(capability).is_some(),
            "{capability}: {initialized}"
        );
    }
    client.notify("initialized", json!({}));

    let path = repo_root().join("specs/encoder_decoder.lstm");
    let uri = format!("file://{}", path.display());
    let good = std::fs::read_to_string(&path).unwrap();
    let broken = good.replace("lstm   150 stateful sequences", "lstm   150 stateful");
    let document = json!({"uri": uri, "languageId": "lstm", "version": 1, "text": broken});
    client.notify("textDocument/didOpen", json!({"textDocument": document}));
    let diagnostics = client.diagnostics();
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    let diagnostic = &diagnostics[0];
    assert!(diagnostic["message"]
        .as_str()
        .unwrap()
        .contains("per-step dense needs a sequence"));
    let line = broken.lines().position(|l| l.contains("per_step")).unwrap();
    assert_eq!(diagnostic["range"]["start"]["line"], json!(line));
    let related = diagnostic["relatedInformation"].as_array().unwrap();
    assert!(related[0]["message"]
        .as_str()
        .unwrap()
        .contains("returns only its last state"));

    let changed = json!({"uri": uri, "version": 2});
    let changes = json!([{"text": good}]);
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": changed, "contentChanges": changes}),
    );
    assert!(client.diagnostics().is_empty(), "fixed");

    let document = json!({"uri": uri});
    let range = json!({"start": {"line": 0, "character": 0}, "end": {"line": 40, "character": 0}});
    let hints = client.request(
        2,
        "textDocument/inlayHint",
        json!({"textDocument": document, "range": range}),
    );
    let labels: Vec<&str> = hints
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "[21, 5, 100]  0 params",
            "[21, 150]  150,600 params",
            "[21, 2, 150]  0 params",
            "[21, 2, 150]  180,600 params",
            "[21, 2, 100]  15,100 params",
        ]
    );

    let lstm_line = good
        .lines()
        .position(|l| l.trim_start().starts_with("lstm"))
        .unwrap();
    let at = json!({"line": lstm_line, "character": 3});
    let hover = client.request(
        3,
        "textDocument/hover",
        json!({"textDocument": document, "position": at}),
    );
    let text = hover["contents"]["value"].as_str().unwrap();
    assert!(text.contains("LSTM with `N` units"), "{text}");
    assert!(
        text.contains("Here: outputs `[21, 150]`, 150,600 parameters."),
        "{text}"
    );

    let at = json!({"line": 0, "character": 0});
    let completion = client.request(
        4,
        "textDocument/completion",
        json!({"textDocument": document, "position": at}),
    );
    let words: Vec<&str> = completion
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["label"].as_str().unwrap())
        .collect();
    for word in [
        "model",
        "lstm",
        "gru",
        "dense",
        "stateful",
        "per_step",
        "softmax",
        "frame=",
        "optimizer=",
        "adam",
    ] {
        assert!(words.contains(&word), "{word} in {words:?}");
    }

    // A framing means what its option's row says.
    let data_line = good.lines().position(|l| l.starts_with("data")).unwrap();
    let column = good.lines().nth(data_line).unwrap().find("lag(").unwrap() + 1;
    let at = json!({"line": data_line, "character": column});
    let hover = client.request(
        8,
        "textDocument/hover",
        json!({"textDocument": document, "position": at}),
    );
    let text = hover["contents"]["value"].as_str().unwrap();
    assert!(text.starts_with("`frame=lag(in, out)`"), "{text}");

    // After `encode=`, the encodings; after `frame=`, the framings.
    let data_line = good.lines().position(|l| l.starts_with("data")).unwrap();
    for (option, expected) in [
        ("encode=", &["normalize", "one_hot", "ids"][..]),
        (
            "frame=",
            &[
                "windows", "runs", "lag", "pick", "forecast", "streams", "items",
            ][..],
        ),
    ] {
        let column = good.lines().nth(data_line).unwrap().find(option).unwrap() + option.len();
        let at = json!({"line": data_line, "character": column});
        let values = client.request(
            7,
            "textDocument/completion",
            json!({"textDocument": document, "position": at}),
        );
        let words: Vec<&str> = values
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["label"].as_str().unwrap())
            .collect();
        for word in expected {
            assert!(words.contains(word), "{option}: {word} in {words:?}");
        }
        assert!(
            !words.contains(&"lstm"),
            "{option}: only its values, {words:?}"
        );
    }

    let options = json!({"tabSize": 2, "insertSpaces": true});
    let edits = client.request(
        5,
        "textDocument/formatting",
        json!({"textDocument": document, "options": options}),
    );
    assert_eq!(
        edits[0]["newText"].as_str().unwrap(),
        good,
        "specs/ is formatted"
    );

    assert_eq!(client.request(6, "shutdown", Value::Null), Value::Null);
    client.notify("exit", Value::Null);
    assert!(child.wait().unwrap().success());
}
