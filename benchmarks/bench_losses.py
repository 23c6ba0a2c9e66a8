"""Forward+backward time of every sklimb loss relative to plain cross-entropy.

Run with ``python benchmarks/bench_losses.py``. Single-threaded; each loss is
timed on the same logits as ``torch.nn.functional.cross_entropy`` in the same
run (interleaved rounds, median), and the ratio to CE is printed with the
target it must meet.
"""

from __future__ import annotations

import argparse
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


def _time(fn, logits, target, repeats):
    """Seconds of one forward+backward, median over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        x = logits.detach().requires_grad_()
        start = time.perf_counter()
        fn(x, target).backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(shapes, rounds, repeats):
    torch.set_num_threads(1)
    rows = []
    for n_samples, n_classes in shapes:
        gen = torch.Generator().manual_seed(0)
        logits = torch.randn(n_samples, n_classes, generator=gen) * 3
        # a long-tailed target distribution
        probs = torch.tensor(np.geomspace(1.0, 0.01, n_classes), dtype=torch.float32)
        target = torch.multinomial(probs, n_samples, replacement=True, generator=gen)
        counts = torch.bincount(target, minlength=n_classes).numpy()
        losses = build_losses(counts)
        samples = {name: [] for name, _, _ in losses}
        ce_samples = []
        for _ in range(rounds):  # interleave so drift in machine load hits all alike
            ce_samples.append(_time(F.cross_entropy, logits, target, repeats))
            for name, loss, _ in losses:
                samples[name].append(_time(loss, logits, target, repeats))
        ce = statistics.median(ce_samples)
        for name, _, target_ratio in losses:
            seconds = statistics.median(samples[name])
            rows.append((f"{n_samples}x{n_classes}", name, seconds * 1e3, ce * 1e3,
                         seconds / ce, target_ratio))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="smaller shapes, fewer rounds")
    args = parser.parse_args(argv)
    shapes = [(1024, 10), (8192, 100)] if args.quick else SHAPES
    rows = run(shapes, 3 if args.quick else args.rounds, args.repeats)
    header = f"{'shape':<12} {'loss':<26} {'ms':>8} {'ce ms':>8} {'ratio':>6} {'target':>7}  ok"
    print(header)
    print("-" * len(header))
    failures = 0
    for shape, name, ms, ce_ms, ratio, target_ratio in rows:
        ok = ratio <= target_ratio
        failures += not ok
        print(f"{shape:<12} {name:<26} {ms:8.3f} {ce_ms:8.3f} {ratio:6.2f} {target_ratio:7.1f}  "
              f"{'yes' if ok else 'NO'}")
    print(f"\n{len(rows) - failures}/{len(rows)} within target")


if __name__ == "__main__":
    main()
