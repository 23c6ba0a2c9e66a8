"""Forward+backward time of every sklimb loss relative to plain cross-entropy.

Run with ``python benchmarks/bench_losses.py``. A diagnostic, not a target: what
users pay is fit time, which ``benchmarks/bench_fit.py --losses`` measures.
Single-threaded; each loss is timed on the same logits as
``torch.nn.functional.cross_entropy`` in the same run, and the ratio to CE is
printed. A loss given class weights is compared with CE given the same class
weights (``F.cross_entropy(weight=...)``); the class-balanced loss, which always
weights its classes, with weighted CE as well. ``--backend torch`` times the
PyTorch compositions alone (the compiled backend of ``sklimb.losses`` turned off).

Shapes: the batch shapes tabular networks train with (64 to 512 rows, 2 to
10 classes), where a loss's cost is per-call overhead rather than arithmetic,
and two large ones.

Timing: every round times each loss right after its CE reference (weighted
or not), ``repeats`` calls each after ``warmup`` untimed calls, and keeps the
median call (``--stat min``: the fastest call); the order of the losses rotates
from round to round so that none always follows the same neighbour. A loss's
ratio is the median over rounds of its time divided by the time of the
reference timed just before it; the reference's row gives the median of all
its timings. By default the clock is the CPU time of the calling
thread, which a busy machine disturbs less than wall time (page faults count
in both); ``--clock wall`` uses ``time.perf_counter``. Small shapes are timed
over blocks of ``block`` calls so that each sample is well above the clock's
resolution.

Last, the cost of the compiled backend's first call: a loss called in a new
process, with an empty numba cache (it compiles its loop) and then with the
cache that run filled (it loads the compiled code).

The ``faults`` column is the median number of minor page faults per call.
glibc serves each large tensor at 65536x100 (26 MB) either from memory it
already holds or from fresh pages (about 6400 faults, several ms); which one
depends on what ran before, including for the CE reference, so compare the
faults columns when ratios move between runs.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from sklimb.losses import (
    ClassBalancedLoss,
    CrossEntropyLoss,
    DiceLoss,
    FocalLoss,
    GHMCLoss,
    LDAMLoss,
    LogitAdjustedLoss,
)

try:  # run as a script from the repository root or from benchmarks/
    from _docs import as_text_block, captured, write_section
except ImportError:  # pragma: no cover
    from benchmarks._docs import as_text_block, captured, write_section
SMALL_SHAPES = [(64, 2), (256, 2), (256, 5), (256, 10), (512, 10)]
LARGE_SHAPES = [(4096, 10), (65536, 100)]
CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}
STATS = {"median": statistics.median, "min": min}


def build_losses(class_counts):
    """``(name, loss, weighted)`` for every loss, with and without weights."""
    n_classes = len(class_counts)
    weight = torch.linspace(0.5, 2.0, n_classes)
    rows = []
    for suffix, w in (("", None), ("+weights", weight)):
        weighted = w is not None
        rows += [
            ("ce" + suffix, CrossEntropyLoss(weight=w), weighted),
            ("ce+smoothing" + suffix, CrossEntropyLoss(weight=w, label_smoothing=0.1), weighted),
            ("focal" + suffix, FocalLoss(gamma=2.0, weight=w), weighted),
            ("ldam" + suffix, LDAMLoss(class_counts, weight=w), weighted),
            ("logit_adjusted" + suffix, LogitAdjustedLoss(class_counts, weight=w), weighted),
            ("ghm" + suffix, GHMCLoss(bins=10, momentum=0.75, weight=w), weighted),
            ("dice" + suffix, DiceLoss(weight=w), weighted),
        ]
    rows += [
        ("focal+alpha", FocalLoss(gamma=2.0, alpha=weight), True),
        ("class_balanced(softmax)", ClassBalancedLoss(class_counts, beta=0.999), True),
        ("class_balanced(focal)", ClassBalancedLoss(class_counts, base="focal"), True),
        ("class_balanced(sigmoid)", ClassBalancedLoss(class_counts, base="sigmoid"), True),
    ]
    return rows, weight


def _minor_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _time(fn, logits, target, repeats, warmup, clock, stat, block):
    """Seconds per call (``stat`` over blocks) and median minor page faults per call."""
    times, faults = [], []
    inputs = [logits.detach().requires_grad_() for _ in range(block)]
    for i in range(warmup + repeats):
        faults_before = _minor_faults()
        start = clock()
        for x in inputs:
            fn(x, target).backward()
        elapsed = (clock() - start) / block
        if i >= warmup:
            times.append(elapsed)
            faults.append((_minor_faults() - faults_before) / block)
    return stat(times), statistics.median(faults)


def run(shapes, rounds, repeats, warmup, clock, stat=statistics.median, only=None):
    torch.set_num_threads(1)
    rows = []
    for n_samples, n_classes in shapes:
        block = 20 if n_samples * n_classes <= 8192 else 1
        gen = torch.Generator().manual_seed(0)
        logits = torch.randn(n_samples, n_classes, generator=gen) * 3
        # a long-tailed target distribution
        probs = torch.tensor(np.geomspace(1.0, 0.01, n_classes), dtype=torch.float32)
        target = torch.multinomial(probs, n_samples, replacement=True, generator=gen)
        counts = torch.bincount(target, minlength=n_classes).numpy()
        losses, weight = build_losses(counts)
        losses = [entry for entry in losses if not only or entry[0] in only]
        references = {False: F.cross_entropy,
                      True: lambda x, t, w=weight: F.cross_entropy(x, t, weight=w)}
        seconds = {name: [] for name, *_ in losses}
        ratios = {name: [] for name, *_ in losses}
        faults = {name: [] for name, *_ in losses}
        ref_seconds = {False: [], True: []}
        for r in range(rounds):
            shift = r % len(losses)
            for name, loss, weighted in losses[shift:] + losses[:shift]:
                # the reference right before the loss: a burst of load on a shared machine
                # then moves both sides of the ratio
                ref = _time(references[weighted], logits, target, repeats, warmup, clock, stat,
                            block)[0]
                ref_seconds[weighted].append(ref)
                t, fault = _time(loss, logits, target, repeats, warmup, clock, stat, block)
                seconds[name].append(t)
                ratios[name].append(t / ref)
                faults[name].append(fault)
        shape = f"{n_samples}x{n_classes}"
        for weighted, label in ((False, "cross_entropy (reference)"),
                                (True, "weighted cross_entropy (ref.)")):
            if not ref_seconds[weighted]:  # --only without a loss of this kind
                continue
            rows.append((shape, label, statistics.median(ref_seconds[weighted]) * 1e3, 1.0, 0.0))
        for name, _, _ in losses:
            rows.append((shape, name, statistics.median(seconds[name]) * 1e3,
                         statistics.median(ratios[name]), statistics.median(faults[name])))
    return rows


FIRST_CALL = """
import time, torch
t0 = time.perf_counter()
from sklimb.losses import {cls}, _compiled
loss = {cls}({args})
assert _compiled.ENABLED, "numba is not installed"
x = torch.randn(64, 3, requires_grad=True)
target = torch.randint(0, 3, (64,))
t1 = time.perf_counter()
loss(x, target).backward()
t2 = time.perf_counter()
loss(x, target).backward()
t3 = time.perf_counter()
print(t2 - t1, t3 - t2)
"""
FIRST_CALL_LOSSES = [("FocalLoss", ""), ("GHMCLoss", ""),
                     ("ClassBalancedLoss", "[50, 10, 4], base='sigmoid'")]


def first_calls():
    """Seconds of the first and second call of a loss in a fresh process (compiled loops).

    With an empty numba cache (``NUMBA_CACHE_DIR`` pointing to a new directory) the first call
    compiles its loop; run again on that directory, it loads the compiled code. The first
    call includes ``import numba``.
    """
    import os
    import subprocess
    import sys
    import tempfile

    from sklimb.losses import _compiled

    if not _compiled.ENABLED:
        return "numba is not installed (or SKLIMB_NUMBA=0): the losses have no compiled loops"
    lines = [f"{'loss':<20} {'cold cache s':>12} {'warm cache s':>12} {'next call ms':>12}"]
    for cls, args in FIRST_CALL_LOSSES:
        code = FIRST_CALL.format(cls=cls, args=args)
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "NUMBA_CACHE_DIR": cache, "OMP_NUM_THREADS": "1"}
            runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                   text=True, check=True).stdout.split() for _ in range(2)]
        (cold, _), (warm, after) = [[float(v) for v in run] for run in runs]
        lines.append(f"{cls:<20} {cold:12.2f} {warm:12.3f} {float(after) * 1e3:12.3f}")
    return "\n".join(lines)


def table(rows):
    """The printed table."""
    header = f"{'shape':<10} {'loss':<30} {'ms':>8} {'ratio':>6} {'faults':>7}"
    lines = [header, "-" * len(header)]
    for shape, name, ms, ratio, fault in rows:
        lines.append(f"{shape:<10} {name:<30} {ms:8.4f} {ratio:6.2f} {fault:7.0f}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls before each timing")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    parser.add_argument("--stat", choices=sorted(STATS), default="median",
                        help="statistic over the calls of one round")
    parser.add_argument("--only", nargs="+", metavar="LOSS", help="time only these losses")
    parser.add_argument("--small", action="store_true", help="only the small shapes")
    parser.add_argument("--backend", choices=("compiled", "torch"), default="compiled",
                        help="torch: the PyTorch compositions alone")
    parser.add_argument("--quick", action="store_true",
                        help="the small shapes and a smaller large one, 3 rounds")
    parser.add_argument("--write", action="store_true",
                        help="put the table into docs/benchmarks.md (a full run only)")
    args = parser.parse_args(argv)
    if args.write and (args.small or args.quick or args.only):
        parser.error("--write records a full run: drop --small, --quick and --only")
    shapes = SMALL_SHAPES + LARGE_SHAPES
    if args.small:
        shapes = SMALL_SHAPES
    if args.quick:
        shapes = [*SMALL_SHAPES, (8192, 100)]
    from sklimb.losses import _compiled

    _compiled.ENABLED = _compiled.ENABLED and args.backend == "compiled"
    rows = run(shapes, 3 if args.quick else args.rounds, args.repeats, args.warmup,
               CLOCKS[args.clock], STATS[args.stat], args.only)
    with captured() as output:
        print(f"backend: {args.backend if _compiled.ENABLED else 'torch'}; clock: {args.clock}, "
              f"{args.stat} call per round; ratio = loss / cross_entropy (weighted losses: / "
              "weighted cross_entropy), median over rounds")
        print(table(rows))
        if not args.only and _compiled.ENABLED:
            print("\nfirst call of a loss in a new process (64 x 3, forward and backward):")
            print(first_calls())
    if args.write:
        write_section("bench_losses", as_text_block(
            f"python benchmarks/bench_losses.py --rounds {args.rounds}", output.getvalue()))


if __name__ == "__main__":
    main()
