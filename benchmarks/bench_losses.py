"""Forward+backward time of every sklimb loss relative to plain cross-entropy.

Run with ``python benchmarks/bench_losses.py``. Single-threaded; each loss is
timed on the same logits as ``torch.nn.functional.cross_entropy`` in the same
run and the ratio to CE is printed with the target it must meet.

Timing: every round times CE and then each loss, ``repeats`` calls each after
``warmup`` untimed calls, and keeps the median call (``--stat min``: the
fastest call); the order of the losses rotates from round to round so that
none always follows the same neighbour (the state the allocator is left in
matters at these sizes). A loss's ratio is the median over rounds of its time
divided by CE's time in the same round. By default the clock is the CPU time
of the calling thread, which a busy machine disturbs less than wall time
(page faults count in both); ``--clock wall`` uses ``time.perf_counter``.

The ``faults`` column is the median number of minor page faults per call.
glibc serves each large tensor at 65536x100 (26 MB) either from memory it
already holds or from fresh pages (about 6400 faults, several ms); which one
depends on what ran before, including for the CE reference, so compare the
faults columns when ratios move between runs. ``--stat min`` mostly shows the
fault-free cost.
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

SHAPES = [(4096, 10), (65536, 100)]
CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}
STATS = {"median": statistics.median, "min": min}


def build_losses(class_counts):
    """The losses to time, with the ratio to CE each must stay within."""
    n_classes = len(class_counts)
    weight = torch.linspace(0.5, 2.0, n_classes)
    return [
        ("weighted_ce", CrossEntropyLoss(weight=weight), 1.5),
        ("weighted_ce+smoothing", CrossEntropyLoss(weight=weight, label_smoothing=0.1), 1.5),
        ("focal", FocalLoss(gamma=2.0), 1.5),
        ("focal+alpha", FocalLoss(gamma=2.0, alpha=weight), 1.5),
        ("class_balanced(softmax)", ClassBalancedLoss(class_counts, beta=0.999), 1.5),
        ("class_balanced(focal)", ClassBalancedLoss(class_counts, base="focal"), 1.5),
        ("class_balanced(sigmoid)", ClassBalancedLoss(class_counts, base="sigmoid"), 1.5),
        ("ldam", LDAMLoss(class_counts), 1.5),
        ("logit_adjusted", LogitAdjustedLoss(class_counts), 1.5),
        ("ghm", GHMCLoss(bins=10, momentum=0.75), 2.5),
        ("dice", DiceLoss(alpha=1.0, smooth=1.0), 2.5),
    ]


def _minor_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _time(fn, logits, target, repeats, warmup, clock, stat):
    """Seconds (``stat`` over calls) and median minor page faults of one forward+backward."""
    times, faults = [], []
    for i in range(warmup + repeats):
        x = logits.detach().requires_grad_()
        faults_before = _minor_faults()
        start = clock()
        fn(x, target).backward()
        elapsed = clock() - start
        if i >= warmup:
            times.append(elapsed)
            faults.append(_minor_faults() - faults_before)
    return stat(times), statistics.median(faults)


def run(shapes, rounds, repeats, warmup, clock, stat=statistics.median, only=None):
    torch.set_num_threads(1)
    rows = []
    for n_samples, n_classes in shapes:
        gen = torch.Generator().manual_seed(0)
        logits = torch.randn(n_samples, n_classes, generator=gen) * 3
        # a long-tailed target distribution
        probs = torch.tensor(np.geomspace(1.0, 0.01, n_classes), dtype=torch.float32)
        target = torch.multinomial(probs, n_samples, replacement=True, generator=gen)
        counts = torch.bincount(target, minlength=n_classes).numpy()
        losses = [entry for entry in build_losses(counts) if not only or entry[0] in only]
        seconds = {name: [] for name, _, _ in losses}
        ratios = {name: [] for name, _, _ in losses}
        faults = {name: [] for name, _, _ in losses}
        ce_seconds, ce_faults = [], []
        for r in range(rounds):
            ce, ce_fault = _time(F.cross_entropy, logits, target, repeats, warmup, clock,
                                   stat)
            ce_seconds.append(ce)
            ce_faults.append(ce_fault)
            shift = r % len(losses)
            for name, loss, _ in losses[shift:] + losses[:shift]:
                t, fault = _time(loss, logits, target, repeats, warmup, clock, stat)
                seconds[name].append(t)
                ratios[name].append(t / ce)
                faults[name].append(fault)
        shape = f"{n_samples}x{n_classes}"
        rows.append((shape, "cross_entropy (reference)", statistics.median(ce_seconds) * 1e3,
                     1.0, None, statistics.median(ce_faults)))
        for name, _, target_ratio in losses:
            rows.append((shape, name, statistics.median(seconds[name]) * 1e3,
                         statistics.median(ratios[name]), target_ratio,
                         statistics.median(faults[name])))
    return rows


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
    parser.add_argument("--quick", action="store_true", help="smaller shapes, fewer rounds")
    args = parser.parse_args(argv)
    shapes = [(1024, 10), (8192, 100)] if args.quick else SHAPES
    rows = run(shapes, 3 if args.quick else args.rounds, args.repeats, args.warmup,
               CLOCKS[args.clock], STATS[args.stat], args.only)
    header = (f"{'shape':<10} {'loss':<26} {'ms':>8} {'ratio':>6} {'target':>7} {'ok':>4}"
              f" {'faults':>7}")
    print(f"clock: {args.clock}, {args.stat} call per round; ratio = loss / cross_entropy, "
          "median over rounds")
    print(header)
    print("-" * len(header))
    failures = checked = 0
    for shape, name, ms, ratio, target_ratio, fault in rows:
        if target_ratio is None:
            verdict, target_text = "", ""
        else:
            checked += 1
            ok = ratio <= target_ratio
            failures += not ok
            verdict, target_text = ("yes" if ok else "NO"), f"{target_ratio:.1f}"
        print(f"{shape:<10} {name:<26} {ms:8.2f} {ratio:6.2f} {target_text:>7} {verdict:>4}"
              f" {fault:7.0f}")
    print(f"\n{checked - failures}/{checked} within target")


if __name__ == "__main__":
    main()
