//! `lstmc lsp` driven over stdio as an editor drives it: initialize, open a spec with an
//! error, receive its diagnostic, fix it with a change, receive none, ask for inlay hints,
//! hover, completion and formatting, shut down; every response checked. Then the protocol's
//! edges (bad parameters, close, exit without shutdown, a request after it), completion and
//! hover by where a word stands, and a spec that is not saved.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};

use serde_json::{json, Value};

use crate::repo_root;

struct Client {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
    /// The notifications received while waiting for a response.
    notifications: Vec<Value>,
}

impl Client {
    /// A server, initialized; its standard error is kept for `finish`.
    fn start() -> (Client, Value) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lstmc"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut client = Client {
            stdin: child.stdin.take().unwrap(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            child,
            next_id: 1,
            notifications: Vec::new(),
        };
        let initialized = client.request("initialize", json!({"capabilities": {}}));
        client.notify("initialized", json!({}));
        (client, initialized)
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    /// The whole response to a request: its result or its error.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let message = self.receive();
            if message["id"] == json!(id) {
                return message;
            }
            self.notifications.push(message);
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let response = self.call(method, params);
        assert!(response.get("error").is_none(), "{method}: {response}");
        response["result"].clone()
    }

    /// The error code a request is refused with.
    fn refusal(&mut self, method: &str, params: Value) -> i64 {
        let response = self.call(method, params);
        let code = response["error"]["code"].as_i64();
        code.unwrap_or_else(|| panic!("{method} answered, not refused: {response}"))
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

    /// The next diagnostics the server publishes, and for which document.
    fn published(&mut self) -> (String, Vec<Value>) {
        let received = std::mem::take(&mut self.notifications).into_iter();
        let mut messages = received.chain(std::iter::from_fn(|| Some(self.receive())));
        let message = messages
            .find(|m| m["method"] == "textDocument/publishDiagnostics")
            .unwrap();
        let uri = message["params"]["uri"].as_str().unwrap().to_string();
        let diagnostics = message["params"]["diagnostics"].as_array().unwrap();
        (uri, diagnostics.clone())
    }

    fn diagnostics(&mut self) -> Vec<Value> {
        self.published().1
    }

    fn open(&mut self, uri: &str, text: &str) {
        let document = json!({"uri": uri, "languageId": "lstm", "version": 1, "text": text});
        self.notify("textDocument/didOpen", json!({"textDocument": document}));
    }

    fn change(&mut self, uri: &str, version: u64, text: &str) {
        let document = json!({"uri": uri, "version": version});
        let changes = json!([{ "text": text }]);
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": document, "contentChanges": changes}),
        );
    }

    /// Shuts down and exits, as an editor ends a session; the exit status and what the
    /// server said on standard error.
    fn finish(mut self, shut_down: bool) -> (ExitStatus, String) {
        if shut_down {
            assert_eq!(self.request("shutdown", Value::Null), Value::Null);
        }
        self.notify("exit", Value::Null);
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        let mut pipe = self.child.stderr.take().unwrap();
        pipe.read_to_string(&mut stderr).unwrap();
        (status, stderr)
    }
}

#[test]
fn an_editor_session() {
    let (mut client, initialized) = Client::start();
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
    // Whole texts (1, Full), so that no client sends the range of a change.
    assert_eq!(capabilities["textDocumentSync"], json!(1), "{initialized}");
    let triggers = &capabilities["completionProvider"]["triggerCharacters"];
    assert_eq!(*triggers, json!(["=", " ", "("]), "{initialized}");

    let path = repo_root().join("specs/encoder_decoder.lstm");
    let uri = format!("file://{}", path.display());
    let good = std::fs::read_to_string(&path).unwrap();
    let broken = good.replace("lstm   150 stateful sequences", "lstm   150 stateful");
    client.open(&uri, &broken);
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

    client.change(&uri, 2, &good);
    assert!(client.diagnostics().is_empty(), "fixed");

    let document = json!({"uri": uri});
    let range = json!({"start": {"line": 0, "character": 0}, "end": {"line": 40, "character": 0}});
    let hints = client.request(
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
        "textDocument/hover",
        json!({"textDocument": document, "position": at}),
    );
    let text = hover["contents"]["value"].as_str().unwrap();
    assert!(text.contains("LSTM with `N` units"), "{text}");
    assert!(
        text.contains("Here: outputs `[21, 150]`, 150,600 parameters."),
        "{text}"
    );

    // Before the first comment, a statement starts: a section.
    let at = json!({"line": 0, "character": 0});
    let completion = client.request(
        "textDocument/completion",
        json!({"textDocument": document, "position": at}),
    );
    assert_eq!(
        labels_of(&completion),
        ["model", "data", "train", "eval", "show"]
    );

    // A framing means what its option's row says of it.
    let data_line = good.lines().position(|l| l.starts_with("data")).unwrap();
    let column = good.lines().nth(data_line).unwrap().find("lag(").unwrap() + 1;
    let at = json!({"line": data_line, "character": column});
    let hover = client.request(
        "textDocument/hover",
        json!({"textDocument": document, "position": at}),
    );
    let text = hover["contents"]["value"].as_str().unwrap();
    assert_eq!(
        text,
        "`frame=lag(in, out)`\n\nevery window of `in` symbols, target its first `out` symbols, one per step"
    );

    // A formatted spec needs no edit; a spec that is not gets the whole of `lstmc fmt`'s.
    let options = json!({"tabSize": 2, "insertSpaces": true});
    let formatting = json!({"textDocument": document, "options": options});
    let edits = client.request("textDocument/formatting", formatting.clone());
    assert_eq!(edits, json!([]), "specs/ is formatted");
    client.change(&uri, 3, &good.replace("lstm   150", "lstm 150"));
    client.diagnostics();
    let edits = client.request("textDocument/formatting", formatting);
    assert_eq!(edits[0]["newText"].as_str().unwrap(), good);

    let (status, stderr) = client.finish(true);
    assert!(status.success(), "{status}: {stderr}");
}

/// A request the server cannot read is refused with InvalidParams, and a notification it
/// cannot read is skipped (and said on standard error); the session goes on either way.
#[test]
fn a_bad_message_ends_nothing() {
    let (mut client, _) = Client::start();
    let path = repo_root().join("specs/airline.lstm");
    let uri = format!("file://{}", path.display());
    let text = std::fs::read_to_string(&path).unwrap();
    const INVALID_PARAMS: i64 = -32602;
    let document = json!({"uri": uri});
    let position = json!({"line": 0, "character": 0});
    for (method, params) in [
        ("textDocument/hover", json!({"foo": 1})),
        ("textDocument/inlayHint", json!({"textDocument": document})),
        ("textDocument/completion", Value::Null),
        ("textDocument/formatting", json!({"textDocument": 1})),
    ] {
        assert_eq!(client.refusal(method, params), INVALID_PARAMS, "{method}");
    }

    // A didOpen without `languageId` opens nothing.
    let unnamed = json!({"uri": uri, "version": 1, "text": text});
    client.notify("textDocument/didOpen", json!({"textDocument": unnamed}));
    let at = json!({"textDocument": document, "position": position});
    assert_eq!(
        client.request("textDocument/hover", at.clone()),
        Value::Null
    );
    assert!(
        client.notifications.is_empty(),
        "{:?}",
        client.notifications
    );

    // A didChange without `version` changes nothing: the text opened stays.
    client.open(&uri, &text);
    assert!(client.diagnostics().is_empty());
    let unversioned = json!({"uri": uri});
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": unversioned, "contentChanges": [{"text": "model"}]}),
    );
    // Nor does a change of a range: the server asked for whole texts.
    let range = json!({"start": position, "end": position});
    let ranged = json!([{"range": range, "text": "model"}]);
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": ranged}),
    );
    let hints = json!({"textDocument": document, "range": range});
    let hints_asked = hints.clone();
    let hints = client.request("textDocument/inlayHint", hints);
    assert_eq!(hints.as_array().unwrap().len(), 3, "{hints}");
    assert!(
        client.notifications.is_empty(),
        "{:?}",
        client.notifications
    );

    // Nor does a body that is not JSON, nor JSON that is not a message: each is answered
    // with JSON-RPC's error for it, and the session goes on.
    const PARSE_ERROR: i64 = -32700;
    const INVALID_REQUEST: i64 = -32600;
    for (body, code) in [("{not json", PARSE_ERROR), ("{}", INVALID_REQUEST)] {
        write!(client.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        client.stdin.flush().unwrap();
        assert_eq!(client.receive()["error"]["code"], json!(code), "{body}");
    }
    let hints = client.request("textDocument/inlayHint", hints_asked);
    assert_eq!(hints.as_array().unwrap().len(), 3);

    let (status, stderr) = client.finish(true);
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("textDocument/didOpen skipped"), "{stderr}");
    assert!(
        stderr.contains("textDocument/didChange skipped"),
        "{stderr}"
    );
    assert!(
        stderr.contains("a change of a range is skipped"),
        "{stderr}"
    );
}

/// Closing a spec clears its diagnostics from the editor, and the server forgets its text.
#[test]
fn a_closed_spec_has_no_diagnostics() {
    let (mut client, _) = Client::start();
    let path = repo_root().join("specs/airline.lstm");
    let uri = format!("file://{}", path.display());
    let text = std::fs::read_to_string(&path).unwrap();
    client.open(&uri, &text.replace("lstm   4", "lstn   4"));
    assert_eq!(client.diagnostics().len(), 1);
    let document = json!({"uri": uri});
    client.notify("textDocument/didClose", json!({"textDocument": document}));
    assert_eq!(client.published(), (uri, Vec::new()));
    let at = json!({"textDocument": document, "position": {"line": 8, "character": 3}});
    assert_eq!(client.request("textDocument/hover", at), Value::Null);
    let (status, stderr) = client.finish(true);
    assert!(status.success(), "{status}: {stderr}");
}

/// The LSP specification: `exit` before `shutdown` exits with code 1; a request after
/// `shutdown` is refused with InvalidRequest, and `exit` after it exits with 0.
#[test]
fn exit_and_shutdown_follow_the_protocol() {
    let (client, _) = Client::start();
    let (status, _) = client.finish(false);
    assert_eq!(status.code(), Some(1));

    let (mut client, _) = Client::start();
    assert_eq!(client.request("shutdown", Value::Null), Value::Null);
    const INVALID_REQUEST: i64 = -32600;
    let at =
        json!({"textDocument": {"uri": "file:///a.lstm"}, "position": {"line": 0, "character": 0}});
    assert_eq!(client.refusal("textDocument/hover", at), INVALID_REQUEST);
    let (status, stderr) = client.finish(false);
    assert!(status.success(), "{status}: {stderr}");
}

/// A spec an editor has not saved (`untitled:`) has no folder: a relative data path is an
/// error that says so, not a path read from wherever the server runs.
#[test]
fn an_unsaved_spec_reads_no_relative_path() {
    let (mut client, _) = Client::start();
    let text = std::fs::read_to_string(repo_root().join("specs/airline.lstm")).unwrap();
    client.open("untitled:Untitled-1", &text);
    let diagnostics = client.diagnostics();
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    let message = diagnostics[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("cannot read ../data/airline_passengers.csv: the spec is not saved"),
        "{message}"
    );
    let absolute = repo_root().join("data/airline_passengers.csv");
    let text = text.replace("../data/airline_passengers.csv", absolute.to_str().unwrap());
    client.change("untitled:Untitled-1", 2, &text);
    assert!(client.diagnostics().is_empty(), "an absolute path is read");
    let (status, stderr) = client.finish(true);
    assert!(status.success(), "{status}: {stderr}");
}

/// A spec with `line` in its model block, or at the top level after the block.
fn spec_with(line: &str) -> String {
    let model = "model m {\n  input steps=5 features=100\n";
    if line.starts_with("  ") {
        format!("{model}{line}\n  dense 100 softmax\n}}\n")
    } else {
        format!("{model}  dense 100 softmax\n}}\n{line}\n")
    }
}

/// The text of `marked` without its `|`, and the position of the `|`.
fn marked(marked: &str) -> (String, Value) {
    let at = marked.find('|').unwrap();
    let before = &marked[..at];
    let line = before.matches('\n').count();
    let column = before.len() - before.rfind('\n').map_or(0, |n| n + 1);
    let text = format!("{before}{}", &marked[at + 1..]);
    (text, json!({"line": line, "character": column}))
}

fn labels_of(completion: &Value) -> Vec<&str> {
    let items = completion.as_array().unwrap().iter();
    items.map(|item| item["label"].as_str().unwrap()).collect()
}

/// Asks `method` at the `|` of `line` in a spec, the document changed to it first.
fn ask(client: &mut Client, version: u64, method: &str, line: &str) -> Value {
    let uri = "file:///nowhere/context.lstm";
    let (text, position) = marked(&spec_with(line));
    if version == 1 {
        client.open(uri, &text);
    } else {
        client.change(uri, version, &text);
    }
    client.diagnostics();
    let at = json!({"textDocument": {"uri": uri}, "position": position});
    client.request(method, at)
}

/// Completion offers what may stand where the cursor is, as specs/README.md lists it.
/// The layers a model line offers, in `specs/README.md`'s order.
const LAYERS: &[&str] = &[
    "input",
    "embedding",
    "lstm",
    "gru",
    "dropout",
    "repeat",
    "dense",
];

#[test]
fn completion_knows_where_it_is() {
    let (mut client, _) = Client::start();
    let cases: &[(&str, &[&str])] = &[
        ("|", &["model", "data", "train", "eval", "show"]),
        ("  |", LAYERS),
        ("  ls|", LAYERS),
        (
            "  lstm 10 |",
            &[
                "stateful",
                "sequences",
                "bidirectional",
                "merge=",
                "dropout=",
                "recurrent_dropout=",
            ],
        ),
        (
            "  dense 10 |",
            &["softmax", "relu", "tanh", "sigmoid", "per_step"],
        ),
        ("  input |", &["steps=", "features="]),
        (
            "  lstm 10 bidirectional merge=|",
            &["concat", "sum", "mul", "ave"],
        ),
        ("eval |", &["on=", "draws="]),
        ("eval on=|", &["train", "fresh"]),
        (
            "show accuracy |",
            &[
                "accuracy",
                "rmse",
                "mae",
                "predictions",
                "generate",
                "loss",
                "sample",
                "items",
            ],
        ),
        ("show predictions(3, order=|", &["first", "random"]),
        ("show predictions(|", &["count=", "order="]),
        (
            "train optimizer=adam(|",
            &["lr=", "beta1=", "beta2=", "epsilon="],
        ),
        (
            "train optimizer=sgd(lr=0.1, |",
            &["lr=", "momentum=", "nesterov="],
        ),
        ("train optimizer=|", &["adam", "adamw", "sgd", "rmsprop"]),
        ("train batch=|", &["all"]),
        (
            "data source=csv(\"a.csv\", inputs=x, targets=x, missing=|",
            &["error", "drop", "previous", "interpolate"],
        ),
        ("data frame=runs(10, 5, pad=|", &["pre", "post"]),
        (
            "data frame=runs(10, 5, pad=post, mask=|",
            &["false", "true"],
        ),
        ("data encode=|", &["normalize", "one_hot", "ids"]),
        (
            "data frame=wi|",
            &[
                "windows", "runs", "lag", "pick", "forecast", "streams", "items",
            ],
        ),
        ("data scale=|", &["none", "minmax", "standard"]),
        ("train clip=|", &["norm", "global_norm", "value"]),
        ("# a comment |", &[]),
        ("data source=text(\"a |", &[]),
        ("model |", &[]),
    ];
    for (version, (line, expected)) in (1..).zip(cases) {
        let completion = ask(&mut client, version, "textDocument/completion", line);
        assert_eq!(labels_of(&completion), *expected, "{line}");
    }
    let (status, stderr) = client.finish(true);
    assert!(status.success(), "{status}: {stderr}");
}

/// Hover means a word where it stands: `accuracy` as `show`'s item, `random` as a value of
/// `order=`, a flag by its own passage of its layer's row; nothing in a comment.
#[test]
fn hover_knows_where_it_is() {
    let (mut client, _) = Client::start();
    let cases: &[(&str, &str, &str)] = &[
        (
            "show |accuracy",
            "`accuracy`\n\n",
            "categorical accuracy as Keras computes it",
        ),
        (
            "show |predictions",
            "`predictions(count, order=first|random)`\n\n",
            "For symbols",
        ),
        ("show |rmse", "`rmse`\n\n", "root mean squared error"),
        (
            "show rmse |mae",
            "`mae`\n\n",
            "mean absolute error over every target value",
        ),
        (
            "show predictions(count=3, order=|random)",
            "`order=first|random`\n\nan argument of `predictions(",
            "drawn at random with replacement",
        ),
        (
            "show predictions(co|unt=3)",
            "`count`\n\n",
            "`count` may not exceed",
        ),
        ("eval on=|train", "`on=train`\n\n", "the training data"),
        (
            "  input |steps=5 features=100",
            "`steps=T`\n\n",
            "time steps",
        ),
        (
            "  input steps=5 |features=100",
            "`features=F`\n\n",
            "features",
        ),
        (
            "train optimizer=adam(|lr=0.1)",
            "`lr=0.001`\n\n",
            "an argument of `adam(lr=0.001",
        ),
        (
            "train optimizer=|adam(lr=0.1)",
            "`optimizer=adam(lr=0.001, beta1=0.9, beta2=0.999, epsilon=1e-7)`\n\n",
            "the update rule",
        ),
        (
            "  lstm 10 bidirectional merge=|sum",
            "`merge=sum`\n\n",
            "`concat`, `sum`, `mul` or `ave`",
        ),
        (
            "  lstm 10 |stateful",
            "`stateful`\n\n",
            "`stateful` carries state across batches",
        ),
        (
            "  gru 10 |dropout=0.1",
            "`dropout=R`\n\n",
            "zeroes each input feature",
        ),
        (
            "  dense 10 relu |per_step",
            "`per_step`\n\n",
            "applies it to every time step",
        ),
        (
            "  |dense 10 softmax",
            "`dense N [softmax|relu|tanh|sigmoid] [per_step]`",
            "fully connected",
        ),
        (
            "data split=|random(0.5)",
            "`split=random(train, val=0)`\n\n",
            "`random(train, val=0)`",
        ),
    ];
    for (version, (line, starts, contains)) in (1..).zip(cases) {
        let hover = ask(&mut client, version, "textDocument/hover", line);
        let text = hover["contents"]["value"]
            .as_str()
            .unwrap_or_else(|| panic!("{line}: {hover}"));
        assert!(text.starts_with(starts), "{line}: {text}");
        assert!(text.contains(contains), "{line}: {text}");
        assert!(
            !text.ends_with('|') && !text.contains("\\|"),
            "{line}: {text}"
        );
    }
    // A flag's hover is its passage, not its layer's whole row.
    let flag = ask(
        &mut client,
        100,
        "textDocument/hover",
        "  lstm 10 |stateful",
    );
    assert_eq!(
        flag["contents"]["value"],
        "`stateful`\n\n`stateful` carries state across batches"
    );
    for (version, line) in (101..).zip([
        "# |lstm in a comment",
        "data source=text(\"|lstm.txt\")",
        "  lstm |10",
    ]) {
        let hover = ask(&mut client, version, "textDocument/hover", line);
        assert_eq!(hover, Value::Null, "{line}");
    }
    let (status, stderr) = client.finish(true);
    assert!(status.success(), "{status}: {stderr}");
}

/// Headers that cannot be read lose the framing: they are answered with a parse error, and
/// the session ends with an error, where a length too large would have made the server
/// wait for, and allocate, what never comes.
#[test]
fn unreadable_headers_end_the_session_with_an_answer() {
    for headers in [
        "Content-Type: utf-8\r\n\r\n",
        "Content-Length: abc\r\n\r\n",
        "Content-Length: 99999999999999999\r\n\r\n",
    ] {
        let (mut client, _) = Client::start();
        write!(client.stdin, "{headers}").unwrap();
        client.stdin.flush().unwrap();
        assert_eq!(
            client.receive()["error"]["code"],
            json!(-32700),
            "{headers:?}"
        );
        let status = client.child.wait().unwrap();
        assert_eq!(status.code(), Some(2), "{headers:?}");
    }
}
