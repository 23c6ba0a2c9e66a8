"""Fit time of ImbalancedNetClassifier against a hand-written PyTorch loop and stock skorch.

Run with ``python benchmarks/bench_fit.py`` (``--quick`` for a short run).
All three train the same MLP with the same optimiser, learning rate, batch
size and number of epochs on the same in-memory data, single-threaded, with
shuffled mini-batches; rounds are interleaved and the median is reported.
Target: ImbalancedNetClassifier within 1.3x of the hand-written loop.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import make_classification
from skorch import NeuralNetClassifier

from sklimb import ImbalancedNetClassifier
from sklimb.modules import MLP

HIDDEN = (256, 128)
LR = 1e-3


def hand_loop(X, y, n_classes, epochs, batch_size):
    """The reference: a plain PyTorch training loop over in-memory tensors."""
    torch.manual_seed(0)
    module = MLP(X.shape[1], n_classes, hidden_layer_sizes=HIDDEN)
    optimizer = torch.optim.AdamW(module.parameters(), lr=LR)
    X_t, y_t = torch.as_tensor(X), torch.as_tensor(y)
    module.train()
    for _ in range(epochs):
        order = torch.randperm(len(X_t))
        for start in range(0, len(X_t), batch_size):
            index = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = F.cross_entropy(module(X_t[index]), y_t[index])
            loss.backward()
            optimizer.step()
    return module


def sklimb_fit(X, y, n_classes, epochs, batch_size):
    return ImbalancedNetClassifier(
        module__hidden_layer_sizes=HIDDEN, optimizer=torch.optim.AdamW, lr=LR,
        max_epochs=epochs, batch_size=batch_size, n_threads=1, random_state=0,
        class_weight=None,  # the same plain cross-entropy as the other two
    ).fit(X, y)


def skorch_fit(X, y, n_classes, epochs, batch_size):
    torch.manual_seed(0)
    return NeuralNetClassifier(
        MLP, module__n_features=X.shape[1], module__n_classes=n_classes,
        module__hidden_layer_sizes=HIDDEN, criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.AdamW, lr=LR, max_epochs=epochs, batch_size=batch_size,
        train_split=None, iterator_train__shuffle=True, verbose=0,
    ).fit(X, y)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-samples", type=int, default=100_000)
    parser.add_argument("--n-features", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20k samples, 1 epoch, 2 rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_samples, args.epochs, args.rounds = 20_000, 1, 2
    torch.set_num_threads(1)
    X, y = make_classification(n_samples=args.n_samples, n_features=args.n_features,
                               n_informative=16, n_classes=4, weights=[0.7, 0.2, 0.07],
                               random_state=0)
    X = X.astype(np.float32)
    runners = {"hand-written loop": hand_loop, "sklimb": sklimb_fit,
               "skorch NeuralNetClassifier": skorch_fit}
    times = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, run in runners.items():
            start = time.perf_counter()
            run(X, y, 4, args.epochs, args.batch_size)
            times[name].append(time.perf_counter() - start)
    reference = statistics.median(times["hand-written loop"])
    steps = args.epochs * -(-args.n_samples // args.batch_size)
    print(f"{args.n_samples} x {args.n_features}, batch {args.batch_size}, {args.epochs} epochs "
          f"({steps} steps), 1 thread, median of {args.rounds} rounds")
    print(f"{'method':<28} {'seconds':>8} {'ms/step':>8} {'ratio':>6}")
    for name in runners:
        seconds = statistics.median(times[name])
        print(f"{name:<28} {seconds:8.2f} {seconds / steps * 1e3:8.3f} "
              f"{seconds / reference:6.2f}")
    ratio = statistics.median(times["sklimb"]) / reference
    print(f"\nsklimb / hand-written loop = {ratio:.2f} (target <= 1.30): "
          f"{'ok' if ratio <= 1.3 else 'MISSED'}")


if __name__ == "__main__":
    main()
