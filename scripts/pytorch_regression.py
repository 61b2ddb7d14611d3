#!/usr/bin/env python3
"""An independent check of lstmc's regression errors (issue 9) with PyTorch.

For each CSV spec: trains it briefly with `lstmc run SPEC --epochs N --save W` and reads
its `rmse:` and `mae:` lines; then, without lstmc, reads the CSV, fills its gaps, splits
the rows in order, fits the scaling on the training rows only, frames each part on its
own, loads W into nn.LSTM + nn.Linear with load_state_dict(strict=True), predicts every
sample of each part, undoes the scaling and computes RMSE and MAE per part; and compares
the two. lstmc prints 4 decimals, so a figure matches when it is within a relative 1e-4
or within the printed rounding (0.5e-4, plus a little for float32).

Usage (PyTorch, numpy and safetensors installed; CI does not need them):
    cargo build --release --bin lstmc
    python3 scripts/pytorch_regression.py [--epochs N]
Exits non-zero if any figure differs.
"""

import argparse
import csv
import math
import pathlib
import re
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

ROOT = pathlib.Path(__file__).resolve().parent.parent
LSTMC = ROOT / "target/release/lstmc"
SPECS = ["airline", "airline_year", "airline_multistep", "co2", "macro"]
RELATIVE = 1e-4
# lstmc prints 4 decimals: half a unit of the last one, and a little for float32 sums.
ROUNDING = 0.5e-4 + 1e-6
MISSING = {"", "na", "nan"}


# --- the spec ----------------------------------------------------------------------------

def args_of(text):
    """`a, b=c, d=e(f, g)` as a list of positional words and a dict of named ones."""
    words, depth, current = [], 0, ""
    for c in text:
        if c == "," and depth == 0:
            words.append(current.strip())
            current = ""
            continue
        depth += c == "("
        depth -= c == ")"
        current += c
    if current.strip():
        words.append(current.strip())
    positional = [w for w in words if "=" not in w]
    named = dict(w.split("=", 1) for w in words if "=" in w)
    return positional, {k.strip(): v.strip() for k, v in named.items()}


def columns_of(word):
    """`passengers` or `columns(a, b, c)` as a list of column names."""
    m = re.fullmatch(r"columns\((.*)\)", word)
    return [c.strip() for c in m.group(1).split(",")] if m else [word]


def read_spec(path):
    text = path.read_text()
    lines = [line.split("#")[0] for line in text.splitlines()]
    block = re.search(r"model\s+\w+\s*\{(.*?)\}", "\n".join(lines), re.S).group(1)
    layers = [line.split() for line in block.splitlines() if line.split()]
    layers = [words for words in layers if words[0] != "input"]
    for words in layers:
        if words[0] not in ("lstm", "dense") or len(words) != 2:
            raise SystemExit(f"{path.name}: this check knows `lstm N` and `dense N`, not {' '.join(words)!r}")
    data_line = next(line for line in lines if line.startswith("data"))
    data = dict(re.findall(r"(\w+)=(\w+\(.*?\)(?=\s+\w+=|\s*$)|\S+)", data_line))
    source_pos, source = args_of(re.fullmatch(r"csv\((.*)\)", data["source"]).group(1))
    _, frame = args_of(re.fullmatch(r"forecast\((.*)\)", data["frame"]).group(1))
    _, split = args_of(re.fullmatch(r"ordered\((.*)\)", data["split"]).group(1))
    return {
        "layers": layers,
        "csv": (path.parent / source_pos[0].strip('"')).resolve(),
        "inputs": columns_of(source["inputs"]),
        "targets": columns_of(source["targets"]),
        "missing": source.get("missing", "error"),
        "window": int(frame["window"]),
        "ahead": int(frame.get("ahead", 1)),
        "out": int(frame.get("out", 1)),
        "scale": data.get("scale", "none"),
        "train": float(split["train"]),
        "val": float(split.get("val", 0)),
    }


# --- the data, in float64 ----------------------------------------------------------------

def read_columns(path, names, missing):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header = [h.strip() for h in rows[0]]
    body = [row for row in rows[1:] if row]
    columns = []
    for name in names:
        k = header.index(name)
        cells = [row[k].strip() for row in body]
        values = np.array([math.nan if c.lower() in MISSING else float(c) for c in cells])
        columns.append(fill(values, missing, name))
    return np.stack(columns, axis=1)  # [rows, columns]


def fill(values, missing, name):
    gaps = np.isnan(values)
    if not gaps.any():
        return values
    if missing != "interpolate":
        raise SystemExit(f"column {name}: gaps with missing={missing}, which this check does not do")
    if gaps[0] or gaps[-1]:
        raise SystemExit(f"column {name}: a gap at an edge, which interpolation cannot fill")
    rows = np.arange(len(values))
    filled = values.copy()
    filled[gaps] = np.interp(rows[gaps], rows[~gaps], values[~gaps])
    return filled


def fit_scaling(train_rows, scale):
    """Per column (offset, spread) with x_scaled = (x - offset) / spread."""
    if scale == "minmax":
        offset, spread = train_rows.min(axis=0), train_rows.max(axis=0) - train_rows.min(axis=0)
    elif scale == "standard":
        offset, spread = train_rows.mean(axis=0), train_rows.std(axis=0, ddof=0)
    elif scale == "none":
        offset, spread = np.zeros(train_rows.shape[1]), np.ones(train_rows.shape[1])
    else:
        raise SystemExit(f"unknown scale={scale}")
    return offset, np.where(spread > 0, spread, 1.0)


def frame(x, y, window, ahead, out):
    """Inputs [samples, window, features] and targets [samples, out * targets] of one part."""
    samples = max(len(x) - (window + ahead + out - 1) + 1, 0)
    xs = np.stack([x[s:s + window] for s in range(samples)]) if samples else np.zeros((0, window, x.shape[1]))
    first = [s + window - 1 + ahead for s in range(samples)]
    ys = np.stack([y[f:f + out].reshape(-1) for f in first]) if samples else np.zeros((0, out * y.shape[1]))
    return xs, ys


# --- the model ---------------------------------------------------------------------------

class Net(nn.Module):
    """The spec's layers, named `layers.{index}` as lstmc names them; an LSTM passes on its
    last hidden state."""

    def __init__(self, layers, inputs):
        super().__init__()
        modules = []
        for words in layers:
            units = int(words[1])
            modules.append(nn.LSTM(inputs, units, batch_first=True) if words[0] == "lstm" else nn.Linear(inputs, units))
            inputs = units
        self.layers = nn.ModuleList(modules)

    def forward(self, x):
        for module in self.layers:
            x = module(x)[1][0][-1] if isinstance(module, nn.LSTM) else module(x)
        return x


# --- the comparison ----------------------------------------------------------------------

def lstmc_errors(spec_path, epochs, weights):
    out = subprocess.run([LSTMC, "run", spec_path, "--epochs", str(epochs), "--save", weights],
                         check=True, capture_output=True, text=True).stdout
    errors = {}
    for metric in ("rmse", "mae"):
        line = next(l for l in out.splitlines() if l.startswith(f"{metric}: "))
        for part, value in re.findall(r"(\w+) (-?[\d.]+)", line.split(": ", 1)[1]):
            errors[(part, metric)] = float(value)
    return errors


def torch_errors(spec, weights):
    table = read_columns(spec["csv"], list(dict.fromkeys(spec["inputs"] + spec["targets"])), spec["missing"])
    names = list(dict.fromkeys(spec["inputs"] + spec["targets"]))
    x_all = table[:, [names.index(c) for c in spec["inputs"]]]
    y_all = table[:, [names.index(c) for c in spec["targets"]]]
    rows = len(table)
    train = math.floor(rows * spec["train"])
    val = math.floor(rows * spec["val"])
    bounds = {"train": (0, train), "val": (train, train + val), "test": (train + val, rows)}
    x_offset, x_spread = fit_scaling(x_all[:train], spec["scale"])
    y_offset, y_spread = fit_scaling(y_all[:train], spec["scale"])

    tensors = load_file(weights)
    net = Net(spec["layers"], len(spec["inputs"]))
    net.load_state_dict(tensors, strict=True)
    net.eval()
    errors, samples = {}, {}
    for part, (lo, hi) in bounds.items():
        xs, ys = frame((x_all[lo:hi] - x_offset) / x_spread, (y_all[lo:hi] - y_offset) / y_spread,
                       spec["window"], spec["ahead"], spec["out"])
        if len(xs) == 0:
            continue
        with torch.no_grad():
            predicted = net(torch.tensor(xs, dtype=torch.float32)).double().numpy()
        # Targets are `out` rows of every target column, row after row.
        spread = np.tile(y_spread, spec["out"])
        offset = np.tile(y_offset, spec["out"])
        error = (predicted * spread + offset) - (ys * spread + offset)
        errors[(part, "rmse")] = float(np.sqrt(np.mean(error ** 2)))
        errors[(part, "mae")] = float(np.mean(np.abs(error)))
        samples[part] = len(xs)
    return errors, samples


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    epochs = parser.parse_args().epochs
    print(f"torch {torch.__version__}, numpy {np.__version__}, lstmc trained {epochs} epochs")
    print(f"{'spec':<18} {'part':<5} {'metric':<5} {'samples':>7} {'lstmc':>12} {'PyTorch':>14} {'rel diff':>9}  verdict")
    failed, worst, beyond = False, (0.0, None), 0.0
    with tempfile.TemporaryDirectory() as folder:
        for name in SPECS:
            spec_path = ROOT / "specs" / f"{name}.lstm"
            weights = pathlib.Path(folder) / f"{name}.safetensors"
            ours = lstmc_errors(spec_path, epochs, weights)
            theirs, samples = torch_errors(read_spec(spec_path), weights)
            if set(ours) != set(theirs):
                print(f"{name}: lstmc reports {sorted(ours)}, PyTorch computes {sorted(theirs)}: FAIL")
                failed = True
                continue
            for key in sorted(theirs, key=lambda k: (["train", "val", "test"].index(k[0]), k[1] != "rmse")):
                a, b = ours[key], theirs[key]
                relative = abs(a - b) / abs(b) if b else abs(a - b)
                ok = abs(a - b) <= max(RELATIVE * abs(b), ROUNDING)
                if relative > worst[0]:
                    worst = (relative, f"{name} {key[0]} {key[1]}")
                beyond = max(beyond, abs(a - b) - 0.5e-4)
                failed |= not ok
                print(f"{name:<18} {key[0]:<5} {key[1]:<5} {samples[key[0]]:>7} {a:>12.4f} {b:>14.6f} "
                      f"{relative:>9.1e}  {'ok' if ok else 'DIFFERS'}")
    print(f"largest relative difference: {worst[0]:.1e} ({worst[1]})")
    if beyond > 0:
        print(f"largest difference beyond lstmc's 4-decimal rounding: {beyond:.1e}")
    else:
        print("every difference is within lstmc's 4-decimal rounding (0.5e-4)")
    print("FAIL" if failed else "PASS")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
