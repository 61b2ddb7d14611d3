// Starts `lstmc lsp` for .lstm files: the server does the rest.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate() {
  const command = vscode.workspace.getConfiguration("lstmc").get("path") || "lstmc";
  client = new LanguageClient(
    "lstmc",
    "lstmc",
    { command, args: ["lsp"] },
    { documentSelector: [{ scheme: "file", language: "lstm" }] }
  );
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
