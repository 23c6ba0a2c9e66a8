"""Fit time of ImbalancedNetClassifier against a hand-written loop, stock skorch and its peers.

Run with ``python benchmarks/bench_fit.py`` (``--quick`` for a short run,
``--suite`` to add the development-suite comparison with CatBoost, which
needs ``pip install -e ".[bench]"``). Everything runs on one thread; within a
part, the candidates take turns round by round and the median is reported.

1. **Overhead.** A hand-written PyTorch loop with plain cross-entropy is the
   reference; ``ImbalancedNetClassifier`` trains the same MLP (256, 128) with
   the same optimiser, learning rate, batches and epochs (constant learning
   rate, no weight average, no input transform), once with plain
   cross-entropy and once with ``loss="focal", class_weight="balanced"``;
   stock skorch gives context. Targets: CE at most 1.10x, focal with balanced
   weights at most 1.15x the hand-written loop.
2. **The default model against MLPClassifier behind SMOTE**, the cheap
   network users reach for: ``ImbalancedNetClassifier()`` as it comes, and
   ``make_pipeline(StandardScaler(), SMOTE(), MLPClassifier())``, on 300 x 8
   with 5 classes and on 2000 x 16 binary. Target: ratio at most 1.0.
3. **Every loss against cross-entropy** (``--losses``): ``ImbalancedNetClassifier(loss=L,
   batch_size=200)`` with the default network, on 300 x 8 with 5 classes, 2000 x 16 binary
   and 20,000 x 32 with 5 classes (3x, 2x and 1x ``--rounds`` rounds), each fit paired with
   a fit of the same estimator with ``loss="ce"`` right before it; the losses with a
   compiled twin (numba, the ``fast`` extra) once with and once without it. Target: every
   loss at most 1.15x cross-entropy with the backend.
4. **The default model against CatBoost on the development suite**
   (``--suite``): one fit of each on every dataset of ``benchmarks/suite.py``;
   the median over datasets of ``ImbalancedNetClassifier()``'s fit time
   divided by the median of ``CatBoostClassifier(auto_class_weights=
   "Balanced")``'s. Target: at most 1.0.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import make_pipeline
from sklearn.datasets import make_classification
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetClassifier

from sklimb import ImbalancedNetClassifier
from sklimb.modules import MLP

try:  # run as a script from the repository root or from benchmarks/
    from _docs import as_text_block, captured, write_section
except ImportError:  # pragma: no cover
    from benchmarks._docs import as_text_block, captured, write_section
HIDDEN = (256, 128)
LR = 1e-3
N_CLASSES = 5
SAME_TRAINING = dict(module="mlp", module__hidden_layer_sizes=HIDDEN, lr=LR,
                     lr_schedule="constant", ema_decay=None, input_transform=None,
                     n_threads=1, random_state=0)


def hand_loop(X, y, epochs, batch_size, fused=None):
    """The reference: a plain PyTorch training loop over in-memory tensors.

    ``AdamW`` as a user writes it (PyTorch's default implementation); ``fused=True`` is the
    fused CPU kernel sklimb's own training uses, shown for context so the table separates
    what the optimiser saves from what the training loop costs.
    """
    torch.manual_seed(0)
    module = MLP(X.shape[1], N_CLASSES, hidden_layer_sizes=HIDDEN)
    optimizer = torch.optim.AdamW(module.parameters(), lr=LR, fused=fused)
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


def sklimb_ce(X, y, epochs, batch_size):
    return ImbalancedNetClassifier(max_epochs=epochs, batch_size=batch_size, class_weight=None,
                                   **SAME_TRAINING).fit(X, y)


def sklimb_focal_balanced(X, y, epochs, batch_size):
    return ImbalancedNetClassifier(max_epochs=epochs, batch_size=batch_size, loss="focal",
                                   class_weight="balanced", **SAME_TRAINING).fit(X, y)


def skorch_ce(X, y, epochs, batch_size):
    torch.manual_seed(0)
    return NeuralNetClassifier(
        MLP, module__n_features=X.shape[1], module__n_classes=N_CLASSES,
        module__hidden_layer_sizes=HIDDEN, criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.AdamW, lr=LR, max_epochs=epochs, batch_size=batch_size,
        train_split=None, iterator_train__shuffle=True, verbose=0,
    ).fit(X, y)


def timed_rounds(runners, rounds):
    """``{name: median seconds}``, the runners taking turns in every round."""
    times = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def overhead(n_samples, n_features, epochs, batch_size, rounds):
    X, y = make_classification(n_samples=n_samples, n_features=n_features, n_informative=16,
                               n_classes=N_CLASSES, weights=[0.5, 0.25, 0.13, 0.08],
                               random_state=0)
    X = X.astype(np.float32)
    runners = {"hand-written loop, CE": hand_loop,
               "hand-written loop, CE, fused AdamW": partial(hand_loop, fused=True),
               "sklimb, CE": sklimb_ce,
               "sklimb, focal + balanced": sklimb_focal_balanced,
               "skorch NeuralNetClassifier, CE": skorch_ce}
    medians = timed_rounds({name: (lambda run=run: run(X, y, epochs, batch_size))
                            for name, run in runners.items()}, rounds)
    steps = epochs * -(-n_samples // batch_size)
    print(f"1. overhead: {n_samples} x {n_features}, {N_CLASSES} classes, batch {batch_size}, "
          f"{epochs} epochs ({steps} steps), 1 thread, median of {rounds} rounds")
    reference = medians["hand-written loop, CE"]
    print(f"   {'method':<36} {'seconds':>8} {'ms/step':>8} {'ratio':>6}")
    for name, seconds in medians.items():
        print(f"   {name:<36} {seconds:8.2f} {seconds / steps * 1e3:8.3f} "
              f"{seconds / reference:6.2f}")
    for name, target in (("sklimb, CE", 1.10), ("sklimb, focal + balanced", 1.15)):
        ratio = medians[name] / reference
        print(f"   {name} / hand-written CE loop = {ratio:.2f} (target <= {target:.2f}): "
              f"{'ok' if ratio <= target else 'MISSED'}")


def against_mlp_classifier(rounds):
    print("\n2. ImbalancedNetClassifier() against StandardScaler + SMOTE + MLPClassifier(), "
          f"1 thread, median of {rounds} rounds")
    print(f"   {'data':<26} {'sklimb s':>9} {'SMOTE+MLP s':>12} {'ratio':>6}")
    from threadpoolctl import threadpool_limits

    for n_samples, n_features, n_classes, weights in [
            (300, 8, 5, [0.5, 0.25, 0.13, 0.08]), (2000, 16, 2, [0.9])]:
        X, y = make_classification(n_samples=n_samples, n_features=n_features,
                                   n_informative=6, n_classes=n_classes, weights=weights,
                                   n_clusters_per_class=1, random_state=0)
        runners = {
            "sklimb": lambda X=X, y=y: ImbalancedNetClassifier(random_state=0).fit(X, y),
            "smote_mlp": lambda X=X, y=y: make_pipeline(
                StandardScaler(), SMOTE(random_state=0), MLPClassifier(random_state=0)).fit(X, y),
        }
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MLPClassifier's convergence warnings
            medians = timed_rounds(runners, rounds)
        ratio = medians["sklimb"] / medians["smote_mlp"]
        label = f"{n_samples} x {n_features}, {n_classes} classes"
        print(f"   {label:<26} {medians['sklimb']:9.3f} {medians['smote_mlp']:12.3f} "
              f"{ratio:6.2f} (target <= 1.00: {'ok' if ratio <= 1.0 else 'MISSED'})")


LOSS_NAMES = ("focal", "class_balanced", "ghm", "dice", "ldam", "logit_adjusted")
#: (rows, features, classes, class weights of make_classification, rounds per --rounds): the
#: cheap sets take more rounds, so that every set's median rests on a similar time
LOSS_SETS = [(300, 8, 5, [0.5, 0.25, 0.13, 0.08], 3), (2000, 16, 2, [0.9], 2),
             (20_000, 32, 5, [0.5, 0.25, 0.13, 0.08], 1)]


def against_cross_entropy(rounds, sets=LOSS_SETS):
    """Part 3: each loss's fit time over that of ``loss="ce"`` fitted right before it.

    The speed of this shared machine drifts by 20% and more over minutes, so each ratio
    is taken between two fits adjacent in time, and the median over rounds is reported.
    A loss with a compiled twin is timed with and without the backend (``torch``).
    """
    from sklimb.losses import _compiled, warm_up

    print("\n3. every loss against loss='ce': ImbalancedNetClassifier(loss=L, batch_size=200), "
          "default network, 1 thread; each fit paired with a CE fit right before it, median "
          f"ratio over {3 * rounds}, {2 * rounds} and {rounds} rounds; 'torch' without the "
          "compiled backend of sklimb.losses")
    if not _compiled.ENABLED:
        print("   numba is not installed (or SKLIMB_NUMBA=0): no compiled backend to measure")
        return
    with_loop = {"focal", "ghm", "dice", "ldam"}  # the defaults of the others have none
    worst = 0.0
    for n_samples, n_features, n_classes, weights, factor in sets:
        X, y = make_classification(n_samples=n_samples, n_features=n_features,
                                   n_informative=6, n_classes=n_classes, weights=weights,
                                   n_clusters_per_class=1, random_state=0)
        X = X.astype(np.float32)

        def fit(loss, backend="compiled", X=X, y=y):
            _compiled.ENABLED = backend == "compiled"
            start = time.perf_counter()
            try:
                ImbalancedNetClassifier(loss=loss, batch_size=200, random_state=0).fit(X, y)
            finally:
                _compiled.ENABLED = True
            return time.perf_counter() - start

        warm_up()  # compile (or load) the loops before timing
        runs = [(loss, backend) for loss in LOSS_NAMES for backend in ("compiled", "torch")
                if backend == "compiled" or loss in with_loop]
        ratios, seconds, ce_seconds = {run: [] for run in runs}, {run: [] for run in runs}, []
        for _ in range(rounds * factor):
            for run in runs:
                ce_seconds.append(fit("ce"))
                seconds[run].append(fit(*run))
                ratios[run].append(seconds[run][-1] / ce_seconds[-1])
        print(f"   {n_samples} x {n_features}, {n_classes} classes: CE median "
              f"{statistics.median(ce_seconds):.2f} s")
        print(f"   {'loss':<16} {'s':>6} {'/ CE':>6} {'range':>11} {'torch s':>8} {'/ CE':>6}")
        for loss in LOSS_NAMES:
            run = (loss, "compiled")
            ratio = statistics.median(ratios[run])
            worst = max(worst, ratio)
            line = (f"   {loss:<16} {statistics.median(seconds[run]):6.2f} {ratio:6.2f} "
                    f"{min(ratios[run]):5.2f}-{max(ratios[run]):4.2f}")
            if (loss, "torch") in ratios:
                line += (f" {statistics.median(seconds[(loss, 'torch')]):8.2f} "
                         f"{statistics.median(ratios[(loss, 'torch')]):6.2f}")
            print(line)
    print(f"   worst loss / CE = {worst:.2f} (target <= 1.15): "
          f"{'ok' if worst <= 1.15 else 'MISSED'}; 'range': the lowest and highest paired "
          "ratio of the rounds")


def against_catboost():
    from catboost import CatBoostClassifier

    try:
        from suite import load_suite
    except ImportError:  # pragma: no cover
        from benchmarks.suite import load_suite

    print("\n4. ImbalancedNetClassifier() against CatBoost(auto_class_weights='Balanced') on "
          "the development suite, one fit on all rows of each dataset, 1 thread")
    ours, theirs = [], []
    for name, (X, y) in load_suite().items():
        start = time.perf_counter()
        ImbalancedNetClassifier(random_state=0).fit(X, y)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        CatBoostClassifier(auto_class_weights="Balanced", random_seed=0, thread_count=1,
                           verbose=0, allow_writing_files=False).fit(X, y)
        theirs.append(time.perf_counter() - start)
        print(f"   {name:<34} sklimb {ours[-1]:6.2f} s   CatBoost {theirs[-1]:7.2f} s")
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"   median: sklimb {statistics.median(ours):.2f} s, CatBoost "
          f"{statistics.median(theirs):.2f} s, ratio {ratio:.2f} (target <= 1.00: "
          f"{'ok' if ratio <= 1.0 else 'MISSED'})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-samples", type=int, default=100_000)
    parser.add_argument("--n-features", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--losses", action="store_true",
                        help="also time every loss against cross-entropy (part 3)")
    parser.add_argument("--only", nargs="+", type=int, choices=(1, 2, 3, 4), metavar="PART",
                        help="run only these parts")
    parser.add_argument("--suite", action="store_true",
                        help="also compare with CatBoost on the development suite")
    parser.add_argument("--quick", action="store_true", help="20k samples, 1 epoch, 2 rounds")
    parser.add_argument("--write", action="store_true",
                        help="put the output into docs/benchmarks.md (not with --quick)")
    args = parser.parse_args(argv)
    if args.write and args.quick:
        parser.error("--write records a full run: drop --quick")
    if args.quick:
        args.n_samples, args.epochs, args.rounds = 20_000, 1, 2
    torch.set_num_threads(1)
    parts = set(args.only or [1, 2] + [3] * args.losses + [4] * args.suite)
    with captured() as output:
        if 1 in parts:
            overhead(args.n_samples, args.n_features, args.epochs, args.batch_size, args.rounds)
        if 2 in parts:
            against_mlp_classifier(max(args.rounds, 5))
        if 3 in parts:
            against_cross_entropy(args.rounds)
        if 4 in parts:
            against_catboost()
    if args.write:
        command = "python benchmarks/bench_fit.py" + (" --losses" if args.losses else "") + (
            " --suite" if args.suite else "") + f" --rounds {args.rounds}"
        write_section("bench_fit", as_text_block(command, output.getvalue()))


if __name__ == "__main__":
    main()
