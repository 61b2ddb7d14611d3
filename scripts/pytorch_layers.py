#!/usr/bin/env python3
"""Trains small specs with each newer layer, loss, optimizer, clipping and schedule in lstmc
and, from the same initial weights and batches, in PyTorch with the same update formulas,
and compares every weight tensor after the epochs.

How the two start alike: PyTorch draws the initial weights and writes them as a safetensors
file in lstmc's names and layouts, without the `.state` sidecar; `lstmc run --load` takes
such a bare file as the initial weights and trains from a fresh optimizer (step 0, zero
slots), saving the result with `--save`. The batches are rebuilt without lstmc: the data
is `alphabet` (letters A to Z, `frame=windows(3)`: each window of three letters targets the
next) in order (`shuffle=false`), 23 samples in batches of 5, so the last batch holds 3.
The one two-class case draws `random_ints(0..2)`, whose sequence only lstmc knows: it is
read back from `show predictions`, which lists every training sample in order.

The reference runs in float64, so its rounding is out of the way: the differences are
lstmc's float32 arithmetic. The optimizers are written out by hand (Keras 3's formulas, as
lstmc implements them, not torch.optim: RMSprop's epsilon is inside the square root, Adam's
bias correction is folded into its rate), as are the clipping and the learning-rate
schedules. PyTorch's own modules do the forward and backward passes: nn.LSTM, nn.GRU
(both directions for `bidirectional`), nn.Embedding and nn.Linear. lstmc's LSTM has one
bias (Keras'); here `bias_hh_l0` is held at zero and untrained, which is the same model.

Dropout masks are lstmc's own draws and cannot be rebuilt here; the `dropout0` case checks
instead that `dropout 0` trains to the reference's weights (and to the very bits of the
same spec without the layer).

Usage (PyTorch, numpy and safetensors installed):
    cargo build --release --bin lstmc
    python3 scripts/pytorch_layers.py [--epochs N]
Prints, per case, the largest differences from float64 PyTorch of lstmc's weights and, for
scale, of float32 PyTorch's (`--verbose`: every tensor). Exits non-zero if any of lstmc's
exceeds LIMITS or `dropout 0` changes lstmc's weights.
"""

import argparse
import math
import pathlib
import re
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

ROOT = pathlib.Path(__file__).resolve().parent.parent
LSTMC = ROOT / "target/release/lstmc"

# Each trained tensor is compared with float64 PyTorch's (`b`, from `start`) three ways:
#   elem  = max over elements of |a - b| / max(|b|, 1e-3),
#   norm  = |a - b| / |b| (Euclidean norms over the tensor),
#   moved = |a - b| / |b - start|: the difference against how far training moved the tensor,
#           the figure a wrong formula shows first (Adam's epsilon 1e-8 for 1e-7 makes it
#           2e-2, AdamW's decay after the step instead of before 1e-3; both fail).
# lstmc computes in float32. float32 PyTorch, run beside it from the same weights and
# batches, shows what float32 alone costs: after one epoch up to 1.2e-5 elem, 4e-7 norm and
# 9e-6 moved (3.3e-5, 9e-7, 8e-6 after three), summation order and rounding of the weights'
# last bits, a weight near 1e-3 magnifying them in `elem`. So `norm` is held to the 1e-5 the
# issue asks, while `elem` and `moved`, at float32's own level near 1e-5, are held to 1e-4.
LIMITS = {"elem": 1e-4, "norm": 1e-5, "moved": 1e-4}

ALPHABET = "data source=alphabet frame=windows(3) encode=one_hot"
ALPHABET_INPUT = "input steps=3 features=26"

# name, the model's layers after `input`, the input line, the data line, the train line.
CASES = [
    ("gru_adam", ["gru 8", "dense 26 softmax"], ALPHABET_INPUT, ALPHABET,
     "optimizer=adam(lr=0.01)"),
    ("bilstm_concat", ["lstm 6 bidirectional merge=concat", "dense 26 softmax"], ALPHABET_INPUT, ALPHABET,
     "optimizer=adam(lr=0.01)"),
    ("bilstm_ave_seq", ["lstm 5 sequences bidirectional merge=ave", "lstm 6", "dense 26 softmax"],
     ALPHABET_INPUT, ALPHABET, "optimizer=adam(lr=0.01)"),
    ("bigru_sum_seq", ["gru 5 sequences bidirectional merge=sum", "gru 6", "dense 26 softmax"],
     ALPHABET_INPUT, ALPHABET, "optimizer=adam(lr=0.01)"),
    ("bigru_mul", ["gru 6 bidirectional merge=mul", "dense 26 softmax"], ALPHABET_INPUT, ALPHABET,
     "optimizer=adam(lr=0.01)"),
    ("embedding_lstm", ["embedding 5", "lstm 8", "dense 26 softmax"], ALPHABET_INPUT,
     "data source=alphabet frame=windows(3) encode=ids", "optimizer=adam(lr=0.01)"),
    ("dense_acts_normalize", ["lstm 8", "dense 10 relu", "dense 10 tanh", "dense 10 sigmoid", "dense 26 softmax"],
     "input steps=3 features=1", "data source=alphabet frame=windows(3) encode=normalize",
     "optimizer=adam(lr=0.01)"),
    ("bce_adamw", ["lstm 5", "dense 1 sigmoid"], "input steps=4 features=2",
     "data source=random_ints(0..2, length=27) frame=windows(4) encode=one_hot",
     "loss=binary_crossentropy optimizer=adamw(lr=0.01, weight_decay=0.1)"),
    ("sgd", ["lstm 8", "dense 26 softmax"], ALPHABET_INPUT, ALPHABET, "optimizer=sgd(lr=0.5)"),
    ("sgd_momentum", ["gru 8", "dense 26 softmax"], ALPHABET_INPUT, ALPHABET,
     "optimizer=sgd(lr=0.3, momentum=0.9)"),
    ("sgd_nesterov", ["lstm 8", "dense 26 softmax"], ALPHABET_INPUT, ALPHABET,
     "optimizer=sgd(lr=0.3, momentum=0.9, nesterov=true)"),
    ("rmsprop", ["lstm 8", "dense 26 softmax"], ALPHABET_INPUT, ALPHABET,
     "optimizer=rmsprop(lr=0.01)"),
    ("rmsprop_centered_momentum", ["gru 8", "dense 26 softmax"], ALPHABET_INPUT, ALPHABET,
     "optimizer=rmsprop(lr=0.005, rho=0.8, momentum=0.5, epsilon=1e-6, centered=true)"),
    ("clip_norm", ["lstm 8", "dense 26 softmax"], ALPHABET_INPUT, ALPHABET,
     "optimizer=sgd(lr=0.5) clip=norm(0.05)"),
    ("clip_global_norm", ["gru 8", "dense 26 softmax"], ALPHABET_INPUT, ALPHABET,
     "optimizer=adam(lr=0.01) clip=global_norm(0.1)"),
    ("clip_value", ["lstm 8", "dense 26 softmax"], ALPHABET_INPUT, ALPHABET,
     "optimizer=sgd(lr=0.5) clip=value(0.01)"),
    ("schedule_step", ["lstm 8", "dense 26 softmax"], ALPHABET_INPUT, ALPHABET,
     "optimizer=sgd(lr=0.5, momentum=0.5) schedule=step(every=2, rate=0.5)"),
    ("schedule_exponential", ["gru 8", "dense 26 softmax"], ALPHABET_INPUT, ALPHABET,
     "optimizer=adamw(lr=0.02, weight_decay=0.05) schedule=exponential(every=3, rate=0.6)"),
    ("dropout0", ["lstm 8", "dropout 0", "dense 26 softmax"], ALPHABET_INPUT, ALPHABET,
     "optimizer=adam(lr=0.01)"),
]

DEFAULTS = {
    "adam": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7},
    "adamw": {"lr": 0.001, "weight_decay": 0.004, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7},
    "sgd": {"lr": 0.01, "momentum": 0.0, "nesterov": False},
    "rmsprop": {"lr": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False},
}


def spec_text(name, layers, input_line, data_line, train_line, batch, epochs):
    body = "\n".join(f"  {line}" for line in [input_line] + layers)
    return (f"model {name} {{\n{body}\n}}\n{data_line}\n"
            f"train {train_line} epochs={epochs} batch={batch} shuffle=false seed=1\n"
            "show predictions\n")


def call(text):
    """`name(a=1, b=true)` as (name, {"a": 1.0, "b": True}); a positional argument is named `0`."""
    name, args = re.fullmatch(r"(\w+)\((.*)\)", text).groups()
    values = {}
    for position, item in enumerate(a.strip() for a in args.split(",") if a.strip()):
        key, _, value = item.rpartition("=")
        values[key or str(position)] = (value == "true") if value in ("true", "false") else float(value)
    return name, values


def option(train_line, key):
    found = re.search(rf"\b{key}=(\w+\([^)]*\))", train_line)
    return call(found.group(1)) if found else None


# ----------------------------------------------------------------------------------------
# Data: the samples in lstmc's order, as symbol indices.

def alphabet_samples(size):
    sequence = list(range(26))
    return [(sequence[i:i + size], sequence[i + size]) for i in range(len(sequence) - size)]


def predicted_samples(output):
    """Each `[0, 1, 1] -> [0] (expected [1]: ...)` line of lstmc's output as (inputs, target)."""
    samples = []
    for line in output.splitlines():
        found = re.match(r"\[([\d, ]+)\] -> \[\d+\] \(expected \[(\d+)\]", line)
        if found:
            samples.append(([int(s) for s in found.group(1).split(",")], int(found.group(2))))
    return samples


def encode(inputs, how, classes, dtype):
    """A batch's inputs as the spec encodes them: [B, T, C] one-hot, [B, T, 1] index/classes,
    or [B, T] ids."""
    ids = torch.tensor(inputs)
    if how == "ids":
        return ids
    if how == "one_hot":
        return F.one_hot(ids, classes).to(dtype)
    return (ids.to(dtype) / classes).unsqueeze(-1)


# ----------------------------------------------------------------------------------------
# The model: PyTorch modules named `layers.{i}` as lstmc names its tensors.

class Net(nn.Module):
    def __init__(self, layers, features):
        super().__init__()
        self.words = [line.split() for line in layers]
        modules, width = [], features
        for words in self.words:
            module, width = make_layer(words, width)
            modules.append(module)
        self.layers = nn.ModuleList(modules)
        for module, words in zip(self.layers, self.words):
            if words[0] == "lstm":
                # Keras' LSTM has one bias: bias_hh stays zero and untrained.
                for name, tensor in module.named_parameters():
                    if name.startswith("bias_hh"):
                        tensor.requires_grad_(False)

    def forward(self, x):
        last = len(self.words) - 1
        for index, (module, words) in enumerate(zip(self.layers, self.words)):
            if words[0] in ("lstm", "gru"):
                x = recurrent(module, words, x)
            elif words[0] == "dense":
                x = activate(module(x), words, index == last)
            else:  # embedding, dropout 0
                x = module(x)
        return x


def make_layer(words, width):
    kind, units = words[0], words[1]
    if kind in ("lstm", "gru"):
        cell = nn.LSTM if kind == "lstm" else nn.GRU
        both = "bidirectional" in words
        out = int(units) * (2 if both and merge_of(words) == "concat" else 1)
        return cell(width, int(units), batch_first=True, bidirectional=both), out
    if kind == "dense":
        return nn.Linear(width, int(units)), int(units)
    if kind == "embedding":
        return nn.Embedding(width, int(units)), int(units)
    if kind == "dropout" and float(units) == 0.0:
        return nn.Identity(), width
    raise ValueError(f"no reference for `{' '.join(words)}`")


def merge_of(words):
    found = [w.split("=")[1] for w in words if w.startswith("merge=")]
    return found[0] if found else "concat"


def recurrent(module, words, x):
    """An LSTM or GRU's output as lstmc returns it: every step with `sequences`, else the last
    state; a bidirectional layer's two directions merged, the backward one's last state being
    the one after reading step 0."""
    out, _ = module(x)
    if "bidirectional" not in words:
        return out if "sequences" in words else out[:, -1]
    units = out.shape[-1] // 2
    forward, backward = out[..., :units], out[..., units:]
    if "sequences" not in words:
        forward, backward = forward[:, -1], backward[:, 0]
    merge = merge_of(words)
    if merge == "concat":
        return torch.cat([forward, backward], dim=-1)
    return {"sum": forward + backward, "mul": forward * backward, "ave": (forward + backward) / 2}[merge]


def activate(x, words, last):
    """A dense layer's activation; the last layer's softmax or sigmoid is the loss's, on logits."""
    if "relu" in words:
        return torch.relu(x)
    if "tanh" in words:
        return torch.tanh(x)
    if "sigmoid" in words and not last:
        return torch.sigmoid(x)
    return x


def initial_weights(net, seed):
    """Uniform weights in [-0.5, 0.5], drawn in float32 as lstmc reads them; an LSTM's
    bias_hh zero, since lstmc adds it into its one bias and saves zeros."""
    generator = torch.Generator().manual_seed(seed)
    weights = {}
    for name, tensor in net.state_dict().items():
        kind = net.words[int(name.split(".")[1])][0]
        if kind == "lstm" and "bias_hh" in name:
            weights[name] = torch.zeros(tensor.shape)
        else:
            weights[name] = torch.rand(tensor.shape, generator=generator) - 0.5
    return weights


# ----------------------------------------------------------------------------------------
# Training as lstmc trains: clipping, then the scheduled rate, then the update.

def clip(params, rule):
    """Keras' clipnorm, global_clipnorm or clipvalue on the gradients; says whether it
    changed them. `norm` clips tensor by tensor, and these are lstmc's tensors: an LSTM's
    W_ih, W_hh and its one bias (bias_hh has no gradient here), a GRU's four, a dense
    layer's two, an embedding's table."""
    if rule is None:
        return False
    kind, args = rule
    limit = args["0"] if "0" in args else args["limit"]
    grads = [p.grad for p in params]
    if kind == "value":
        clipped = any((g.abs() > limit).any() for g in grads)
        for g in grads:
            g.clamp_(-limit, limit)
        return clipped
    norms = [g.norm() for g in grads]
    if kind == "norm":
        for g, norm in zip(grads, norms):
            if norm > limit:
                g.mul_(limit / norm)
        return any(n > limit for n in norms)
    total = math.sqrt(sum(float(n) ** 2 for n in norms))  # global_norm
    if total > limit:
        for g in grads:
            g.mul_(limit / total)
    return total > limit


def scheduled(lr, schedule, done):
    """Keras' ExponentialDecay at the optimizer's iterations (the updates before this one)."""
    if schedule is None:
        return lr
    kind, args = schedule
    every, rate = args["every"], args["rate"]
    power = math.floor(done / every) if kind == "step" else done / every
    return lr * rate ** power


class Optimizer:
    """Keras 3's update rules, one slot dict per parameter."""

    def __init__(self, rule, params):
        self.kind, given = rule
        self.c = {**DEFAULTS[self.kind], **given}
        self.slots = [dict() for _ in params]
        self.t = 0

    def update(self, params, lr):
        self.t += 1
        for p, slot in zip(params, self.slots):
            getattr(self, self.kind)(p.data, p.grad, slot, lr)

    def adam(self, p, g, s, lr):
        c, t = self.c, self.t
        m = s.setdefault("m", torch.zeros_like(p))
        v = s.setdefault("v", torch.zeros_like(p))
        m += (g - m) * (1 - c["beta1"])
        v += (g * g - v) * (1 - c["beta2"])
        alpha = lr * math.sqrt(1 - c["beta2"] ** t) / (1 - c["beta1"] ** t)
        p -= alpha * m / (v.sqrt() + c["epsilon"])

    def adamw(self, p, g, s, lr):
        p -= p * self.c["weight_decay"] * lr
        self.adam(p, g, s, lr)

    def sgd(self, p, g, s, lr):
        momentum = self.c["momentum"]
        if momentum == 0:
            p -= lr * g
            return
        u = s.setdefault("u", torch.zeros_like(p))
        u.mul_(momentum).sub_(lr * g)
        p += momentum * u - lr * g if self.c["nesterov"] else u

    def rmsprop(self, p, g, s, lr):
        c = self.c
        v = s.setdefault("v", torch.zeros_like(p))
        v.mul_(c["rho"]).add_((1 - c["rho"]) * g * g)
        spread = v
        if c["centered"]:
            a = s.setdefault("a", torch.zeros_like(p))
            a.mul_(c["rho"]).add_((1 - c["rho"]) * g)
            spread = v - a * a
        change = lr * g / (spread + c["epsilon"]).sqrt()
        if c["momentum"] > 0:
            w = s.setdefault("w", torch.zeros_like(p))
            w.mul_(c["momentum"]).add_(change)
            change = w
        p -= change


def loss_of(logits, targets, binary):
    """Keras' losses, the mean over the batch's targets."""
    if binary:
        return F.binary_cross_entropy_with_logits(logits.squeeze(-1), targets.to(logits.dtype))
    return F.cross_entropy(logits, targets)


def train_reference(net, samples, how, classes, train_line, batch, epochs):
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = Optimizer(option(train_line, "optimizer"), params)
    rule, schedule = option(train_line, "clip"), option(train_line, "schedule")
    binary = "binary_crossentropy" in train_line
    clipped = 0
    for _ in range(epochs):
        for start in range(0, len(samples), batch):
            chunk = samples[start:start + batch]
            x = encode([inputs for inputs, _ in chunk], how, classes, params[0].dtype)
            targets = torch.tensor([target for _, target in chunk])
            net.zero_grad()
            loss_of(net(x), targets, binary).backward()
            clipped += clip(params, rule)
            optimizer.update(params, scheduled(optimizer.c["lr"], schedule, optimizer.t))
    return clipped, optimizer.t


# ----------------------------------------------------------------------------------------
# One case: lstmc and the reference from the same weights, then every tensor compared.

def run_lstmc(spec_path, initial, saved, epochs):
    return subprocess.run([LSTMC, "run", spec_path, "--load", initial, "--epochs", str(epochs), "--save", saved],
                          check=True, capture_output=True, text=True).stdout


def compare(ours, theirs, start):
    """Per tensor: the max of |ours - theirs| / max(|theirs|, 1e-3), element by element; the
    norm of the difference over the norm of `theirs`; and over the norm of how far `theirs`
    moved from `start` (the updates: a wrong formula shows here first)."""
    rows = {}
    for name in sorted(theirs):
        a, b, b0 = ours[name].double(), theirs[name].double(), start[name].double()
        if torch.equal(b, b0):  # an LSTM's bias_hh, zero and untrained
            rows[name] = ((a - b).abs().max().item(),) * 3
            continue
        elementwise = ((a - b).abs() / b.abs().clamp(min=1e-3)).max().item()
        rows[name] = (elementwise, ((a - b).norm() / b.norm()).item(), ((a - b).norm() / (b - b0).norm()).item())
    return rows


def reference(case, samples, start, batch, epochs, dtype):
    """The weights PyTorch trains from `start` on `samples`, in `dtype`."""
    _, layers, input_line, data_line, train_line = case
    net = Net(layers, int(re.search(r"features=(\d+)", input_line).group(1))).to(dtype)
    net.load_state_dict({k: v.to(dtype) for k, v in start.items()}, strict=True)
    how = re.search(r"encode=(\w+)", data_line).group(1)
    classes = 2 if "random_ints" in data_line else 26
    clipped, updates = train_reference(net, samples, how, classes, train_line, batch, epochs)
    return {k: v.detach() for k, v in net.state_dict().items()}, clipped, updates


def check(case, folder, batch, epochs, seed):
    """lstmc's weights and float32 PyTorch's, each compared with float64 PyTorch's."""
    name, layers, input_line, data_line, train_line = case
    spec_path = folder / f"{name}.lstm"
    spec_path.write_text(spec_text(name, layers, input_line, data_line, train_line, batch, epochs))
    features = int(re.search(r"features=(\d+)", input_line).group(1))
    start = initial_weights(Net(layers, features), seed)
    initial, saved = folder / f"{name}.initial.safetensors", folder / f"{name}.safetensors"
    save_file(start, initial)  # no sidecar: lstmc's initial weights, its optimizer fresh
    output = run_lstmc(spec_path, initial, saved, epochs)
    if "random_ints" in data_line:
        samples = predicted_samples(output)
    else:
        samples = alphabet_samples(int(re.search(r"windows\((\d+)", data_line).group(1)))
    exact, clipped, updates = reference(case, samples, start, batch, epochs, torch.float64)
    single, _, _ = reference(case, samples, start, batch, epochs, torch.float32)
    return compare(load_file(saved), exact, start), compare(single, exact, start), clipped, updates


def dropout_twin(folder, batch, epochs):
    """`dropout0` without its dropout layer, through lstmc alone, for a bitwise comparison."""
    name, layers, input_line, data_line, train_line = next(c for c in CASES if c[0] == "dropout0")
    plain = [line for line in layers if not line.startswith("dropout")]
    spec_path = folder / "no_dropout.lstm"
    spec_path.write_text(spec_text("no_dropout", plain, input_line, data_line, train_line, batch, epochs))
    start = load_file(folder / f"{name}.initial.safetensors")
    renamed = {k.replace("layers.2.", "layers.1."): v for k, v in start.items()}
    save_file(renamed, folder / "no_dropout.initial.safetensors")
    run_lstmc(spec_path, folder / "no_dropout.initial.safetensors", folder / "no_dropout.safetensors", epochs)
    ours = load_file(folder / f"{name}.safetensors")
    theirs = load_file(folder / "no_dropout.safetensors")
    return all(torch.equal(ours[k], theirs[k.replace("layers.2.", "layers.1.")]) for k in ours)


def worst(rows, name, k):
    """Figure k of tensor `name`, or the largest over the case's tensors."""
    return rows[name][k] if name else max(row[k] for row in rows.values())


def passes(rows, name):
    return all(worst(rows, name, k) <= limit for k, limit in enumerate(LIMITS.values()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--verbose", action="store_true", help="print every tensor, not each case's worst")
    args = parser.parse_args()
    torch.set_num_threads(1)
    limits = ", ".join(f"{k} {v:g}" for k, v in LIMITS.items())
    print(f"torch {torch.__version__}, {args.epochs} epoch(s), batch {args.batch}; limits {limits}")
    print("against float64 PyTorch: lstmc's figure, then float32 PyTorch's in (), the largest over the case's tensors")
    width = 30 if args.verbose else 0
    print(f"{'case':26} {'':{width}}{'elem':>8} {'(f32)':>8} {'norm':>8} {'(f32)':>8} {'moved':>8} {'(f32)':>8} {'clipped':>7}")
    failed = False
    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        for seed, case in enumerate(CASES, start=1):
            ours, single, clipped, updates = check(case, folder, args.batch, args.epochs, seed)
            clip_note = f"{clipped}/{updates}" if option(case[4], "clip") else "-"
            names = list(ours) if args.verbose else [None]
            for name in names:
                figures = [worst(rows, name, k) for k in range(3) for rows in (ours, single)]
                verdict = "ok" if passes(ours, name) else "DIFFERS"
                print(f"{case[0]:26} {name or '':{width}}" + " ".join(f"{x:8.1e}" for x in figures) + f" {clip_note:>7} {verdict}")
            failed |= not passes(ours, None)
        same = dropout_twin(folder, args.batch, args.epochs)
        print(f"dropout 0 against no dropout layer, in lstmc: {'the same bits' if same else 'DIFFERENT weights'}")
        failed |= not same
    print("FAIL" if failed else "PASS")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
