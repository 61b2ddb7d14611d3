#!/usr/bin/env python3
"""Times PyTorch's training step and lstmc's beside it, shape by shape, at the shapes of
`cargo bench -p benches -- train_step`, for a side-by-side table from one sitting.

lstmc's side is its runtime's own training step (`Trainer::step`, what `lstmc run` runs for
every batch) on the plans `benches::SHAPES` builds; PyTorch's has the same layers: idiomatic
`nn.LSTM(batch_first=True)` and `nn.Linear`, softmax cross-entropy on the last step (or every
step for echo and encdec), backward, Adam with Keras' epsilon (1e-7), zero_grad. One-hot
inputs are one-hot tensors, as a PyTorch user would feed them; no state is carried.
`--layers gru` puts `nn.GRU` in place of each `nn.LSTM` (and lstmc's `gru` in place of its
`lstm`); `bilstm` and `bigru` make them bidirectional, the directions concatenated.

For each shape, lstmc's step (the `train_step` binary of `benches`) and PyTorch's each
repeat for about `--seconds`, with one thread and then two, and the medians are compared: the
machine's speed drifts over minutes, so the two sides are timed minutes apart at most.

Usage (PyTorch installed; CI does not need it):
    cargo build --release -p benches --bin train_step
    python3 benches/pytorch_train_step.py [--seconds 2] [--shapes alphabet echo ...] [--layers gru]
"""

import argparse
import os
import pathlib
import statistics
import subprocess
import time

import torch
from torch import nn

# name, batch, steps, input, hidden, out, one_hot, per_step, decoder (repeat, hidden)
SHAPES = [
    ("alphabet", 1, 1, 1, 32, 26, False, False, None),
    ("stateful", 1, 1, 1, 50, 26, False, False, None),
    ("index", 1, 5, 10, 25, 10, True, False, None),
    ("echo", 7, 5, 100, 20, 100, True, True, None),
    ("encdec", 21, 5, 100, 150, 100, True, True, (2, 150)),
    ("mid", 32, 50, 64, 128, 64, False, False, None),
    ("large", 64, 100, 256, 512, 256, False, False, None),
]


# --layers: the recurrent module and whether it reads both ways (concatenated, as lstmc's
# `bidirectional` by default and Keras' `Bidirectional`).
LAYERS = {
    "lstm": (nn.LSTM, False),
    "gru": (nn.GRU, False),
    "bilstm": (nn.LSTM, True),
    "bigru": (nn.GRU, True),
}


class Model(nn.Module):
    def __init__(self, inputs, hidden, out, per_step, decoder, layers):
        super().__init__()
        cell, both = LAYERS[layers]
        ways = 2 if both else 1
        self.encoder = cell(inputs, hidden, batch_first=True, bidirectional=both)
        self.per_step = per_step
        self.decoder = None
        features = ways * hidden
        if decoder is not None:
            self.repeat, dec_hidden = decoder
            self.decoder = cell(features, dec_hidden, batch_first=True, bidirectional=both)
            features = ways * dec_hidden
        self.dense = nn.Linear(features, out)

    def forward(self, x):
        outputs, state = self.encoder(x)
        h = state[0] if isinstance(state, tuple) else state
        if self.decoder is not None:
            # Each direction's last state, the backward one's after reading step 0.
            last = torch.cat(list(h), dim=1)
            repeated = last.unsqueeze(1).expand(-1, self.repeat, -1)
            outputs, _ = self.decoder(repeated)
            return self.dense(outputs)
        if self.per_step:
            return self.dense(outputs)
        return self.dense(torch.cat(list(h), dim=1))


def pytorch_step(shape, seconds, layers):
    """PyTorch's median step time, in seconds, over about `seconds` of steps (at least five)."""
    name, batch, steps, inputs, hidden, out, one_hot, per_step, decoder = shape
    torch.manual_seed(7)
    model = Model(inputs, hidden, out, per_step, decoder, layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    if one_hot:
        x = nn.functional.one_hot(torch.randint(0, inputs, (batch, steps)), inputs).float()
    else:
        x = torch.rand(batch, steps, inputs)
    rows = batch * (decoder[0] if decoder else steps if per_step else 1)
    y = torch.randint(0, out, (rows,))

    def step():
        optimizer.zero_grad()
        logits = model(x).reshape(rows, out)
        loss = loss_fn(logits, y)
        loss.backward()
        optimizer.step()

    warm = time.perf_counter()
    while time.perf_counter() - warm < seconds / 10:
        step()
    times = []
    start = time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < seconds:
        began = time.perf_counter()
        step()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def lstmc_step(name, seconds, threads, layers):
    """lstmc's median step time, in seconds, from the `train_step` binary."""
    binary = pathlib.Path(__file__).resolve().parent.parent / "target/release/train_step"
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    # PyTorch's OpenMP threads spin for a while after its last parallel region: let them
    # sleep, or they take the second core from lstmc's run.
    time.sleep(0.5)
    command = [binary, "--seconds", str(seconds), "--layers", layers, name]
    result = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return float(result.stdout.split()[1])


def ratio(x):
    return f"{x:.2f}x" if x < 10 else f"{x:.0f}x"


def show(seconds):
    return f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--shapes", nargs="+", default=[shape[0] for shape in SHAPES])
    parser.add_argument("--layers", choices=sorted(LAYERS), default="lstm")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {args.layers} layers, {args.seconds} s per side and thread count")
    print("| shape | lstmc 1 thread | PyTorch 1 thread | speedup | lstmc 2 threads | PyTorch 2 threads | speedup | lstmc 2 threads over 1 |")
    print("|---|---|---|---|---|---|---|---|")
    for shape in SHAPES:
        if shape[0] not in args.shapes:
            continue
        row = []
        for threads in (1, 2):
            ours = lstmc_step(shape[0], args.seconds, threads, args.layers)
            torch.set_num_threads(threads)
            theirs = pytorch_step(shape, args.seconds, args.layers)
            row.append((ours, theirs))
        cells = "".join(f" {show(ours)} | {show(theirs)} | {ratio(theirs / ours)} |" for ours, theirs in row)
        print(f"| {shape[0]} |{cells} {ratio(row[0][0] / row[1][0])} |", flush=True)


if __name__ == "__main__":
    main()
