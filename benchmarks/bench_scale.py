"""Fit time, memory and quality of the default network on large data, against LightGBM.

Run with ``python benchmarks/bench_scale.py`` (``--write`` puts the table in
``docs/benchmarks.md``; ``--rows N`` shrinks the synthetic set for a quick look).
Needs the benchmark extra: ``pip install -e ".[bench]"``.

Two data sets, each split once 80/20 (stratified, seed 0):

* ``kr_vs_k`` of the development suite (28,056 x 34 after one-hot encoding,
  18 classes, the rarest 27 rows);
* a synthetic binary set of 1,000,000 x 50 float64 features with 1 % positives
  (``make_classification``: 10 informative features, 1 % label noise).

Each method is fitted in a fresh process, one thread: ``ImbalancedNetClassifier()``
as it comes, and ``LGBMClassifier(class_weight="balanced", n_jobs=1)``. The
process reads the training rows from a ``.npy`` file, resets its peak resident
memory (``/proc/self/clear_refs``), fits, and reports the fit time, the peak
memory the fit added over the loaded data, in units of the training array's
size, and the macro F1 and balanced accuracy on the held-out 20 %. Targets:
the default's fit time at most 3x LightGBM's, its added memory at most 2x the
training array.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:  # run as a script from the repository root or from benchmarks/
    from _docs import write_section
except ImportError:  # pragma: no cover
    from benchmarks._docs import write_section

HERE = Path(__file__).resolve().parent
METHODS = ("sklimb default", "LightGBM balanced")


def _rss_kib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(method, directory):
    """Fit ``method`` on the arrays in ``directory``; print one JSON line of results."""
    import torch
    from sklearn.metrics import balanced_accuracy_score, f1_score

    torch.set_num_threads(1)
    directory = Path(directory)
    X_train, y_train = np.load(directory / "X_train.npy"), np.load(directory / "y_train.npy")
    if method == "sklimb default":
        from sklimb import ImbalancedNetClassifier

        model = ImbalancedNetClassifier(random_state=0)
    else:
        from lightgbm import LGBMClassifier

        model = LGBMClassifier(class_weight="balanced", n_jobs=1, random_state=0, verbose=-1)
    Path("/proc/self/clear_refs").write_text("5")  # peak resident memory := current
    before = _rss_kib("VmRSS")
    start = time.perf_counter()
    model.fit(X_train, y_train)
    fit_time = time.perf_counter() - start
    added = (_rss_kib("VmHWM") - before) * 1024
    del X_train
    X_test, y_test = np.load(directory / "X_test.npy"), np.load(directory / "y_test.npy")
    pred = model.predict(X_test)
    print(json.dumps({
        "fit_time": fit_time,
        "memory": added / (directory / "X_train.npy").stat().st_size,
        "f1_macro": f1_score(y_test, pred, average="macro"),
        "balanced_accuracy": balanced_accuracy_score(y_test, pred),
        "epochs": getattr(model, "max_epochs_", None),
        "batch_size": getattr(model, "batch_size_", None),
    }))


def datasets(rows):
    from sklearn.datasets import make_classification

    sys.path.insert(0, str(HERE))
    from suite import load

    yield "kr_vs_k", *load("kr_vs_k")
    X, y = make_classification(n_samples=rows, n_features=50, n_informative=10,
                               n_redundant=10, weights=[0.99], flip_y=0.01, class_sep=1.0,
                               random_state=0)
    yield f"synthetic {rows:,} x 50, 1 % positives", X, y


def run(rows):
    from sklearn.model_selection import train_test_split

    records = []
    for name, X, y in datasets(rows):
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y,
                                                            random_state=0)
        with tempfile.TemporaryDirectory() as tmp:
            for part, array in (("X_train", X_train), ("X_test", X_test),
                                ("y_train", y_train), ("y_test", y_test)):
                np.save(Path(tmp) / f"{part}.npy", array)
            for method in METHODS:
                out = subprocess.run([sys.executable, __file__, "--child", method, tmp],
                                     check=True, capture_output=True, text=True).stdout
                result = json.loads(out.strip().splitlines()[-1])
                records.append({"data": name, "rows": len(y_train), "method": method,
                                **result})
                print(f"{name:<36} {method:<18} fit {result['fit_time']:7.2f} s  memory "
                      f"{result['memory']:.2f}x  macro F1 {result['f1_macro']:.3f}  "
                      f"bal. acc. {result['balanced_accuracy']:.3f}", flush=True)
    return records


def report(records):
    import pandas as pd

    table = pd.DataFrame(records)
    lines = ["| data (training rows) | method | fit s | ratio to LightGBM | added memory "
             "/ training array | macro F1 | bal. acc. |", "|---|---|---|---|---|---|---|"]
    for name, group in table.groupby("data", sort=False):
        reference = group.loc[group["method"] == "LightGBM balanced", "fit_time"].iloc[0]
        for row in group.itertuples():
            lines.append(f"| {name} ({row.rows:,}) | {row.method} | {row.fit_time:.1f} | "
                         f"{row.fit_time / reference:.2f} | {row.memory:.2f} | "
                         f"{row.f1_macro:.3f} | {row.balanced_accuracy:.3f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return
    text = report(run(args.rows))
    print()
    print(text)
    if args.write:
        write_section("bench_scale", "Generated by `python benchmarks/bench_scale.py`, one "
                      "thread, each fit in a fresh process.\n\n" + text)


if __name__ == "__main__":
    main()
