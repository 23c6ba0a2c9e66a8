"""sklimb.describe and the `sklimb describe` command."""

import numpy as np
import pandas as pd
import pytest

from sklimb import describe
from sklimb.cli import main
from sklimb.losses import effective_number_weights


def test_counts_fractions_and_ratio_largest_class_first():
    y = ["b"] * 10 + ["a"] * 40 + ["c"] * 2
    d = describe(y, cv=5, smote_k=5)
    assert d.table.index.tolist() == ["a", "b", "c"]
    assert d.table["count"].tolist() == [40, 10, 2]
    assert np.allclose(d.table["fraction"], [40 / 52, 10 / 52, 2 / 52])
    assert d.imbalance_ratio == 20.0
    assert d.n_samples == 52 and d.n_classes == 3


def test_effective_numbers_and_weights_follow_cui_et_al():
    d = describe([0] * 100 + [1] * 10, betas=(0.9, 0.99))
    n = np.array([100, 10])
    for beta in (0.9, 0.99):
        expected = (1 - beta ** n) / (1 - beta)
        assert np.allclose(d.table[f"effective_n(beta={beta:g})"], expected)
        assert np.allclose(d.table[f"cb_weight(beta={beta:g})"],
                           effective_number_weights(n, beta))


@pytest.mark.parametrize("counts, cv, k, flagged", [
    ([50, 50], 5, 5, []),
    ([50, 3], 5, 5, [1]),            # fewer samples than folds, and too few for SMOTE
    ([50, 6], 5, 5, [1]),            # 6 >= 5 folds but only ~4 per training fold <= k
    ([50, 6], 5, 3, []),             # ~4 per training fold > k=3
    ([50, 1], 5, 5, [1]),            # a single sample
    ([50, 4], 3, 1, []),
])
def test_risks_flag_exactly_the_small_classes(counts, cv, k, flagged):
    y = np.repeat(np.arange(len(counts)), counts)
    d = describe(y, cv=cv, smote_k=k)
    assert [c for c, note in d.table["risks"].items() if note] == flagged
    assert len(d.risks) == len(flagged)


def test_single_class_is_a_risk_not_an_error():
    d = describe(["x"] * 8)
    assert "only one class" in d.risks[0]


@pytest.mark.parametrize("kwargs, match", [
    ({"cv": 0}, "'cv' parameter of describe must be an int in the range \\[1, inf\\)"),
    ({"smote_k": 1.5}, "'smote_k' parameter of describe must be an int in the range"),
])
def test_invalid_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        describe([0, 1, 1], **kwargs)


def test_empty_and_continuous_targets_raise():
    with pytest.raises(ValueError, match="empty"):
        describe([])
    with pytest.raises(ValueError, match="Unknown label type"):
        describe([0.5, 1.5, 2.25])


def test_markdown_compact_and_full():
    d = describe([0] * 30 + [1] * 3)
    compact, full = d.to_markdown(), d.to_markdown(full=True)
    assert "cb_weight(beta=0.999)" in compact and "beta=0.9)" not in compact
    assert "cb_weight(beta=0.9)" in full and "Risks" in full


def test_cli_describe_builtin_and_csv(tmp_path, capsys):
    assert main(["describe", "--dataset", "breast_cancer"]) == 0
    out = capsys.readouterr().out
    assert "malignant" in out and "imbalance ratio" in out
    path = tmp_path / "data.csv"
    pd.DataFrame({"text": ["a", "b", "c", "d", "e", "f"], "y": [0, 0, 0, 0, 1, 1]}).to_csv(
        path, index=False)
    assert main(["describe", "--data", str(path), "--target", "y", "--folds", "3"]) == 0
    assert "6 samples, 2 classes" in capsys.readouterr().out


def test_cli_describe_errors(tmp_path, capsys):
    assert main(["describe", "--data", str(tmp_path / "missing.csv"), "--target", "y"]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["describe", "--smote-k", "0"]) == 2
    assert "'smote_k' parameter of describe must be an int" in capsys.readouterr().err
