#!/usr/bin/env python3
"""Times PyTorch's training step at the shapes of `cargo bench -p benches -- train_step`,
and prints lstmc's criterion medians beside it when they exist, for a side-by-side table
from one sitting.

The step is the same work as lstmc's `TrainStep`: idiomatic `nn.LSTM(batch_first=True)` and
`nn.Linear`, softmax cross-entropy on the last step (or every step for echo and encdec),
backward, Adam with Keras' epsilon (1e-7), zero_grad. One-hot inputs are one-hot tensors, as
a PyTorch user would feed them.

Usage (PyTorch and numpy installed; CI does not need them):
    RAYON_NUM_THREADS=1 cargo bench -p benches --bench kernels -- train_step
    python3 benches/pytorch_train_step.py [--threads 1 2] [--reps 50]
"""

import argparse
import json
import pathlib
import statistics
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


class Model(nn.Module):
    def __init__(self, inputs, hidden, out, per_step, decoder):
        super().__init__()
        self.encoder = nn.LSTM(inputs, hidden, batch_first=True)
        self.per_step = per_step
        self.decoder = None
        features = hidden
        if decoder is not None:
            self.repeat, dec_hidden = decoder
            self.decoder = nn.LSTM(hidden, dec_hidden, batch_first=True)
            features = dec_hidden
        self.dense = nn.Linear(features, out)

    def forward(self, x):
        outputs, (h, _) = self.encoder(x)
        if self.decoder is not None:
            repeated = h[-1].unsqueeze(1).expand(-1, self.repeat, -1)
            outputs, _ = self.decoder(repeated)
            return self.dense(outputs)
        if self.per_step:
            return self.dense(outputs)
        return self.dense(outputs[:, -1, :])


def step_time(shape, reps):
    name, batch, steps, inputs, hidden, out, one_hot, per_step, decoder = shape
    torch.manual_seed(7)
    model = Model(inputs, hidden, out, per_step, decoder)
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

    for _ in range(3):
        step()
    times = []
    for _ in range(reps if name != "large" else max(5, reps // 10)):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def lstmc_median(name):
    """lstmc's median from the last criterion run of train_step/NAME, in seconds."""
    path = pathlib.Path(__file__).resolve().parent.parent / "target/criterion/train_step" / name / "new/estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"] / 1e9


def show(seconds):
    if seconds is None:
        return "-"
    return f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    print(f"torch {torch.__version__}")
    header = "| shape | lstmc (criterion median) |" + "".join(f" PyTorch {t} thread{'s' if t > 1 else ''} |" for t in args.threads) + f" lstmc speedup over PyTorch {args.threads[0]} thread{'s' if args.threads[0] > 1 else ''} |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for shape in SHAPES:
        ours = lstmc_median(shape[0])
        theirs = []
        for threads in args.threads:
            torch.set_num_threads(threads)
            theirs.append(step_time(shape, args.reps))
        ratio = f"{theirs[0] / ours:.1f}x" if ours else "-"
        print(f"| {shape[0]} | {show(ours)} |" + "".join(f" {show(t)} |" for t in theirs) + f" {ratio} |")


if __name__ == "__main__":
    main()
