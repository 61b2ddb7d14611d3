#!/usr/bin/env python3
"""Checks that a model lstmc saved loads into torch.nn.LSTM + torch.nn.Linear with
load_state_dict unchanged, and that PyTorch's outputs match `lstmc predict` to 1e-5.

For each spec: trains it briefly with `lstmc run --save`, reads the layers from the spec
stored in the file's metadata, builds the same network in PyTorch from nn.LSTM,
nn.Linear and a repeat, loads the weights with load_state_dict (strict), encodes the inputs
as the spec does, and compares the softmax outputs with `lstmc predict --probabilities`.

Usage (PyTorch, numpy and safetensors installed; CI does not need them):
    cargo build --release --bin lstmc
    python3 scripts/pytorch_interop.py
Exits non-zero if any output differs by more than 1e-5.
"""

import json
import pathlib
import re
import struct
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file
from torch import nn

ROOT = pathlib.Path(__file__).resolve().parent.parent
LSTMC = ROOT / "target/release/lstmc"
TOLERANCE = 1e-5
CASES = [
    ("alphabet_steps", "60", ["ABC", "KLM", "WXY"]),
    ("alphabet_window", "60", ["ABC", "QRS"]),
    ("alphabet_varlen", "3", ["A", "CDE", "PQRST"]),
    ("echo_whole", "40", ["1 2 3 4 5", "99 0 42 42 7"]),
    ("encoder_decoder", "40", ["3 83 14 51 9", "0 1 2 3 4"]),
    ("index_recall", "300", ["4 6 6 9 0", "1 2 3 4 5"]),
]


def spec_of(path):
    """The spec text lstmc stored in the safetensors metadata."""
    with open(path, "rb") as f:
        header_len = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(header_len))
    return header["__metadata__"]["spec"]


def layers_of(spec):
    """The model block's layer lines after `input`, as word lists."""
    block = re.search(r"model\s+\w+\s*\{(.*?)\}", spec, re.S).group(1)
    lines = [line.split("#")[0].split() for line in block.splitlines()]
    return [words for words in lines if words and words[0] != "input"]


def data_of(spec):
    line = next(l for l in spec.splitlines() if l.startswith("data"))
    return dict(re.findall(r"(\w+)=(\S+\(.*?\)|\S+)", line))


class Repeat(nn.Module):
    def __init__(self, times):
        super().__init__()
        self.times = times

    def forward(self, x):
        return x.unsqueeze(1).repeat(1, self.times, 1)


class Net(nn.Module):
    """The spec's layers, named `layers.{index}` as lstmc names them."""

    def __init__(self, layers, tensors):
        super().__init__()
        modules, self.kinds = [], []
        for index, words in enumerate(layers):
            if words[0] == "lstm":
                hidden4, inputs = tensors[f"layers.{index}.weight_ih_l0"].shape
                modules.append(nn.LSTM(inputs, hidden4 // 4, batch_first=True))
            elif words[0] == "dense":
                outputs, inputs = tensors[f"layers.{index}.weight"].shape
                modules.append(nn.Linear(inputs, outputs))
            else:
                modules.append(Repeat(int(words[1])))
            self.kinds.append(words)
        self.layers = nn.ModuleList(modules)

    def forward(self, x):
        for module, words in zip(self.layers, self.kinds):
            if words[0] == "lstm":
                out, (h, _) = module(x)
                x = out if "sequences" in words else h[-1]
            else:
                x = module(x)
        return torch.softmax(x, dim=-1)


def encode(spec, text):
    """One input as the spec's data section encodes it: [1, steps, features]."""
    data = data_of(spec)
    source = data["source"]
    if source.startswith("random_ints"):
        lo, hi = map(int, re.search(r"(-?\d+)\.\.(-?\d+)", source).groups())
        symbols = [int(word) - lo for word in re.split(r"[\s,]+", text.strip())]
        classes = hi - lo
    else:
        letters = re.search(r'"(.*)"', source).group(1) if "(" in source else "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        symbols = [letters.index(c) for c in text.strip()]
        classes = len(letters)
    frame = data["frame"]
    if frame.startswith("runs"):
        max_len = int(re.search(r"max_len=(\d+)", frame).group(1))
        pad = [None] * (max_len - len(symbols))
        symbols = pad + symbols if "pad=post" not in frame else symbols + pad
    if data.get("encode") == "one_hot":
        steps = [[1.0 if s is not None and s == k else 0.0 for k in range(classes)] for s in symbols]
    else:
        steps = [[0.0 if s is None else s / classes] for s in symbols]
    if data.get("layout") == "features":
        steps = [[value for step in steps for value in step]]
    return torch.tensor([steps], dtype=torch.float32)


def lstmc_probabilities(spec_path, weights, text):
    out = subprocess.run([LSTMC, "predict", spec_path, "--load", weights, "--input", text, "--probabilities"],
                         check=True, capture_output=True, text=True).stdout
    rows = [line.split(": ", 1)[1].split() for line in out.splitlines() if line.startswith("probabilities: ")]
    return torch.tensor([[float(p) for p in row] for row in rows])


def check(name, epochs, inputs, folder):
    spec_path = ROOT / "specs" / f"{name}.lstm"
    weights = folder / f"{name}.safetensors"
    subprocess.run([LSTMC, "run", spec_path, "--epochs", epochs, "--save", weights], check=True, capture_output=True)
    spec = spec_of(weights)
    tensors = load_file(weights)
    net = Net(layers_of(spec), tensors)
    net.load_state_dict(tensors, strict=True)
    worst = 0.0
    with torch.no_grad():
        for text in inputs:
            ours = lstmc_probabilities(spec_path, weights, text)
            theirs = net(encode(spec, text)).reshape(ours.shape)
            worst = max(worst, (ours - theirs).abs().max().item())
    return worst


def main():
    print(f"torch {torch.__version__}")
    failed = False
    with tempfile.TemporaryDirectory() as folder:
        for name, epochs, inputs in CASES:
            worst = check(name, epochs, inputs, pathlib.Path(folder))
            verdict = "ok" if worst <= TOLERANCE else "DIFFERS"
            failed |= worst > TOLERANCE
            print(f"{name}: load_state_dict ok, max |PyTorch - lstmc| = {worst:.2e} ({verdict})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
