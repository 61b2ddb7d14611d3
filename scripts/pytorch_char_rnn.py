#!/usr/bin/env python3
"""An independent check of lstmc's character-level model (issue 10) with PyTorch, and its
epoch time beside PyTorch's.

1. The loss. Trains specs/tinyshakespeare.lstm for one epoch with
   `lstmc run SPEC --epochs 1 --log L --save W` and reads the last `val_loss` of L; then,
   without lstmc, reads the text, builds the vocabulary (its distinct characters sorted by
   code point), splits it in order (train = floor(N x 0.95) characters, validation the
   rest), cuts the validation part into `batch` streams of (len - 1) // batch characters each,
   each stream into whole chunks of `steps`, batch k being chunk k of every stream; loads W
   into nn.LSTM + nn.LSTM + nn.Linear with load_state_dict(strict=True) and computes the mean
   cross-entropy (nats) over every target, from a zero state carried from batch to batch; in
   float32 and in float64. The float64 figure is the reference: it is the loss of the saved
   (float32) weights with PyTorch's rounding out of the way, so the difference from it is
   lstmc's own error alone; float32 PyTorch is shown beside it for the size of a float32
   computation's rounding. The check fails if lstmc's val_loss differs from the float64
   figure by more than a relative 1e-5.

2. The time. Trains the same model the way a PyTorch user would write it: one-hot inputs
   with F.one_hot (no embedding), nn.LSTM(65, 128, num_layers=2, batch_first=True),
   nn.Linear(128, 65) on every step, cross-entropy, Adam lr 0.002, the state detached
   between steps and reset at the epoch's start, on the training part framed as above
   (batch k = chunk k of every stream). It times `--steps` training steps (after a few
   warm-up steps) and scales them to the epoch's steps, and adds one validation pass timed
   in full, since lstmc's `seconds` column counts its validation pass too. lstmc's epoch is
   the `seconds` of its log, run with RAYON_NUM_THREADS=1 (and 2), PyTorch with
   torch.set_num_threads(1) (and 2), one after the other in one sitting.

Usage (PyTorch, numpy and safetensors installed; CI does not need them):
    cargo build --release --bin lstmc
    python3 scripts/pytorch_char_rnn.py [--steps 60] [--threads 1 2]
`--steps 0` times a whole PyTorch epoch; `--no-onednn` times PyTorch with oneDNN off, so
nn.LSTM runs its own cell by cell instead of oneDNN's fused LSTM (PyTorch's default on
CPU). Exits non-zero if the loss differs.
"""

import argparse
import csv
import math
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

ROOT = pathlib.Path(__file__).resolve().parent.parent
LSTMC = ROOT / "target/release/lstmc"
SPEC = ROOT / "specs/tinyshakespeare.lstm"
RELATIVE = 1e-5
WARM_UP = 5


# --- the spec ----------------------------------------------------------------------------

def read_spec(path):
    """What this check needs of the spec; it knows `lstm N ...` layers and a `dense N`."""
    lines = [line.split("#")[0] for line in path.read_text().splitlines()]
    text = "\n".join(lines)
    block = re.search(r"model\s+\w+\s*\{(.*?)\}", text, re.S).group(1)
    layers = [line.split() for line in block.splitlines() if line.split()]
    features = int(re.search(r"features=(\d+)", " ".join(layers[0])).group(1))
    units = [(words[0], int(words[1])) for words in layers[1:]]
    if [kind for kind, _ in units] != ["lstm"] * (len(units) - 1) + ["dense"]:
        raise SystemExit(f"{path.name}: this check knows LSTMs then one dense layer")
    data = next(line for line in lines if line.startswith("data"))
    train = next(line for line in lines if line.startswith("train"))
    split = dict(re.findall(r"(\w+)=([\d.]+)", re.search(r"split=ordered\((.*?)\)", data).group(1)))
    return {
        "text": (path.parent / re.search(r'source=text\("(.*?)"\)', data).group(1)).resolve(),
        "steps": int(re.search(r"frame=streams\(steps=(\d+)\)", data).group(1)),
        "features": features,
        "units": units,
        "train": float(split["train"]),
        "val": float(split.get("val", 0)),
        "batch": int(re.search(r"batch=(\d+)", train).group(1)),
        "lr": float(re.search(r"lr=([\d.]+)", train).group(1)),
    }


# --- the data ----------------------------------------------------------------------------

def read_text(spec):
    """The ids of the text's characters and the sizes of its training and validation parts."""
    text = spec["text"].read_text(encoding="utf-8")
    vocabulary = sorted(set(text))
    index = {c: i for i, c in enumerate(vocabulary)}
    ids = np.array([index[c] for c in text], dtype=np.int64)
    n = len(ids)
    train = math.floor(n * spec["train"] + 1e-9)
    val = n - train if spec["train"] + spec["val"] >= 1 - 1e-9 else math.floor(n * spec["val"] + 1e-9)
    return ids, vocabulary, train, val


def stream_batches(part, streams, steps):
    """Inputs and targets [chunks, streams, steps]: batch k holds chunk k of every stream."""
    share = (len(part) - 1) // streams
    chunks = share // steps
    starts = np.arange(streams)[None, :] * share + np.arange(chunks)[:, None] * steps  # [k, b]
    offsets = starts[:, :, None] + np.arange(steps)[None, None, :]
    return torch.from_numpy(part[offsets]), torch.from_numpy(part[offsets + 1])


# --- the model ---------------------------------------------------------------------------

class Net(nn.Module):
    """The spec's layers, named `layers.{index}` as lstmc names them; LSTMs return every
    step and carry their state in and out."""

    def __init__(self, units, features):
        super().__init__()
        modules, inputs = [], features
        for kind, n in units:
            modules.append(nn.LSTM(inputs, n, batch_first=True) if kind == "lstm" else nn.Linear(inputs, n))
            inputs = n
        self.layers = nn.ModuleList(modules)

    def forward(self, x, state):
        carried = []
        for module, s in zip(self.layers[:-1], state):
            x, s = module(x, s)
            carried.append(s)
        return self.layers[-1](x), carried


def validation_loss(spec, weights, val_inputs, val_targets, dtype):
    net = Net(spec["units"], spec["features"])
    net.load_state_dict(load_file(weights), strict=True)
    net = net.to(dtype).eval()
    batch = spec["batch"]
    state = [(torch.zeros(1, batch, n, dtype=dtype), torch.zeros(1, batch, n, dtype=dtype))
             for kind, n in spec["units"] if kind == "lstm"]
    total, count = 0.0, 0
    with torch.no_grad():
        for x, y in zip(val_inputs, val_targets):
            logits, state = net(F.one_hot(x, spec["features"]).to(dtype), state)
            loss = F.cross_entropy(logits.reshape(-1, spec["features"]).double(), y.reshape(-1), reduction="sum")
            total += loss.item()
            count += y.numel()
    return total / count, count


# --- lstmc -------------------------------------------------------------------------------

def lstmc_epoch(folder, threads):
    """lstmc's one epoch: its log's last row (val_loss, seconds) and the weights' path."""
    log = pathlib.Path(folder) / f"log{threads}.csv"
    weights = pathlib.Path(folder) / f"weights{threads}.safetensors"
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    # PyTorch's OpenMP threads spin for a while after its last parallel region: let them
    # sleep, or they take the second core from lstmc's run.
    time.sleep(0.5)
    subprocess.run([LSTMC, "run", SPEC, "--epochs", "1", "--log", log, "--save", weights],
                   env=env, check=True, capture_output=True, text=True)
    with open(log, newline="") as f:
        row = list(csv.DictReader(f))[-1]
    return float(row["val_loss"]), float(row["seconds"]), weights


# --- PyTorch's epoch ---------------------------------------------------------------------

class CharRNN(nn.Module):
    """What a PyTorch user writes: one 2-layer nn.LSTM and a dense layer on every step."""

    def __init__(self, classes, hidden, layers):
        super().__init__()
        self.classes = classes
        self.lstm = nn.LSTM(classes, hidden, num_layers=layers, batch_first=True)
        self.dense = nn.Linear(hidden, classes)

    def forward(self, x, state=None):
        outputs, state = self.lstm(F.one_hot(x, self.classes).float(), state)
        return self.dense(outputs), state


def pytorch_epoch(spec, train_inputs, train_targets, val_inputs, val_targets, threads, steps):
    """Seconds of an epoch (training steps, `steps` of them timed and scaled to the epoch,
    plus one validation pass) with `threads` threads, and the validation loss (which is
    PyTorch's after one epoch only when the whole epoch is run)."""
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    hidden = {n for kind, n in spec["units"] if kind == "lstm"}
    if len(hidden) != 1:
        raise SystemExit("the timed PyTorch model needs LSTMs of one size")
    classes = spec["features"]
    model = CharRNN(classes, hidden.pop(), len(spec["units"]) - 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=spec["lr"])
    epoch_steps = len(train_inputs)
    timed = epoch_steps if steps <= 0 else min(steps, epoch_steps - WARM_UP)
    state = None

    def step(k):
        nonlocal state
        optimizer.zero_grad()
        logits, state = model(train_inputs[k], state)
        state = tuple(s.detach() for s in state)
        loss = F.cross_entropy(logits.reshape(-1, classes), train_targets[k].reshape(-1))
        loss.backward()
        optimizer.step()
        return loss.item()

    # The state starts at zero (None) as at an epoch's start; the warm-up steps are the
    # epoch's first, and the timed steps go on from there, so the state is what it would be.
    first = 0 if steps <= 0 else WARM_UP
    for k in range(first):
        step(k)
    began = time.perf_counter()
    for k in range(first, first + timed):
        step(k)
    train_seconds = (time.perf_counter() - began) * epoch_steps / timed

    began = time.perf_counter()
    model.eval()
    with torch.no_grad():
        state, total = None, 0.0
        for x, y in zip(val_inputs, val_targets):
            logits, state = model(x, state)
            total += F.cross_entropy(logits.reshape(-1, classes), y.reshape(-1), reduction="sum").item()
    val_seconds = time.perf_counter() - began
    return train_seconds, val_seconds, timed, epoch_steps, total / val_targets.numel()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60,
                        help="PyTorch training steps to time, scaled to an epoch (0: the whole epoch)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-onednn", action="store_true",
                        help="time PyTorch without oneDNN (torch.backends.mkldnn.enabled = False), "
                             "so nn.LSTM runs its own cell by cell")
    args = parser.parse_args()
    spec = read_spec(SPEC)
    ids, vocabulary, train, val = read_text(spec)
    if len(vocabulary) != spec["features"]:
        raise SystemExit(f"the text has {len(vocabulary)} characters, the spec's input {spec['features']}")
    train_inputs, train_targets = stream_batches(ids[:train], spec["batch"], spec["steps"])
    val_inputs, val_targets = stream_batches(ids[train:train + val], spec["batch"], spec["steps"])
    print(f"torch {torch.__version__}, numpy {np.__version__}; {spec['text'].name}: {len(ids)} characters, "
          f"{len(vocabulary)} distinct; train {train} ({len(train_inputs)} batches of {spec['batch']} x "
          f"{spec['steps']}), validation {val} ({len(val_inputs)} batches)")

    failed = False
    timings = []
    with tempfile.TemporaryDirectory() as folder:
        for i, threads in enumerate(args.threads):
            ours, ours_seconds, weights = lstmc_epoch(folder, threads)
            if i == 0:
                print(f"\n1. validation loss after 1 epoch ({val_inputs.numel()} targets, nats per character)")
                reference, count = validation_loss(spec, weights, val_inputs, val_targets, torch.float64)
                single, _ = validation_loss(spec, weights, val_inputs, val_targets, torch.float32)
                print(f"   lstmc (log's val_loss)  {ours:.12f}")
                print(f"   PyTorch float64         {reference:.12f}  (the reference)")
                print(f"   PyTorch float32         {single:.12f}")
                for name, value in (("lstmc", ours), ("PyTorch float32", single)):
                    absolute = abs(value - reference)
                    print(f"   {name + ' - float64':<26}absolute {absolute:.1e}, relative {absolute / reference:.1e}")
                failed = abs(ours - reference) > RELATIVE * abs(reference)
                print(f"   {'FAIL' if failed else 'PASS'} (tolerance: relative {RELATIVE:.0e})")
                onednn = "without oneDNN" if args.no_onednn else "oneDNN's LSTM, the default"
                print(f"\n2. one epoch, seconds (noisy: 2 cores shared with other work); PyTorch: {onednn}")
            torch.backends.mkldnn.enabled = not args.no_onednn
            theirs_train, theirs_val, timed, epoch_steps, theirs_loss = pytorch_epoch(
                spec, train_inputs, train_targets, val_inputs, val_targets, threads, args.steps)
            torch.backends.mkldnn.enabled = True
            theirs = theirs_train + theirs_val
            timings.append((threads, ours_seconds, theirs, theirs_train, theirs_val))
            steps_timed = (f"{timed} steps timed, scaled to {epoch_steps}" if timed < epoch_steps
                           else f"all {epoch_steps} steps")
            print(f"   {threads} thread{'s' if threads > 1 else ' '}: lstmc {ours_seconds:.2f} s; PyTorch {theirs:.2f} s "
                  f"({steps_timed}: {theirs_train:.2f} s, + validation {theirs_val:.2f} s); "
                  f"PyTorch / lstmc = {theirs / ours_seconds:.2f}x", flush=True)
            if timed == epoch_steps:
                print(f"              validation loss after the epoch: lstmc {ours:.4f}, PyTorch {theirs_loss:.4f} "
                      f"(its own initialisation and seed)")
    if len(timings) > 1:
        print(f"   lstmc {timings[-1][0]} threads over 1: {timings[0][1] / timings[-1][1]:.2f}x; "
              f"PyTorch: {timings[0][2] / timings[-1][2]:.2f}x")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
