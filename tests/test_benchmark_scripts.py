"""The benchmark scripts' own command-line checks and result bookkeeping (no benchmark runs)."""

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

from sklimb import compare

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench_quality():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("bench_quality")
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.mark.parametrize("argv", [
    ["--refresh", "sklimb default"],
    ["--refresh", "sklimb default", "--cache", "somewhere", "--only", "sklimb default"],
])
def test_refresh_needs_a_cache_of_every_method(bench_quality, argv, capsys):
    with pytest.raises(SystemExit):
        bench_quality.main(argv)
    assert "--refresh needs --cache and no --only" in capsys.readouterr().err


def test_replace_swaps_only_the_refitted_methods(bench_quality):
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), np.repeat([0, 1], [45, 15])
    run = dict(cv=3, random_state=0, scale=False, progress=False)
    cached = compare(X, y, {"peer": DummyClassifier(strategy="prior"),
                            "ours": DummyClassifier(strategy="stratified", random_state=0)}, **run)
    fresh = compare(X, y, {"ours": LogisticRegression(class_weight="balanced")}, **run)
    merged = bench_quality._replace(cached, fresh)
    assert list(merged.strategies) == ["peer", "ours"]
    for attr in ("scores", "per_class", "times"):
        frame = getattr(merged, attr)
        assert frame[frame["strategy"] == "peer"].reset_index(drop=True).equals(
            getattr(cached, attr).query("strategy == 'peer'").reset_index(drop=True))
        assert frame[frame["strategy"] == "ours"].reset_index(drop=True).equals(
            getattr(fresh, attr).reset_index(drop=True))


def test_wins_and_the_mean_without_the_most_favourable_dataset(bench_quality, monkeypatch):
    import pandas as pd

    means = pd.DataFrame({"sklimb default": [0.9, 0.5, 0.7], "CatBoost balanced": [0.6, 0.6, 0.7],
                          "RealMLP-TD": [0.5, 0.4, 0.8]}, index=["a", "b", "c"])
    monkeypatch.setattr(bench_quality, "per_dataset", lambda results, metric="f1_macro": means)
    wins = bench_quality.wins(None)
    assert wins.loc["sklimb default", "CatBoost balanced"] == "1-1"  # a won, b lost, c tied
    assert wins.loc["sklimb default", "RealMLP-TD"] == "2-1"
    table = bench_quality.without_best(None)
    # the default's most favourable dataset is "a" (0.9 against a median of 0.6)
    assert table.loc["sklimb default", "best dataset"] == "a"
    assert table.loc["sklimb default", "mean without it"] == pytest.approx(0.6)
    assert table.loc["RealMLP-TD", "best dataset"] == "c"
    assert table.loc["RealMLP-TD", "mean without it"] == pytest.approx(0.45)
