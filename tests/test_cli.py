"""The ``sklimb compare`` command, in-process through ``main`` and as a real subprocess."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from sklimb.cli import main

FAST = ["--folds", "2", "--max-epochs", "2", "--quiet"]


@pytest.fixture
def frame():
    X, y = make_classification(n_samples=80, n_features=4, n_informative=3, n_redundant=0,
                               weights=[0.8], class_sep=1.5, flip_y=0, random_state=0)
    data = pd.DataFrame(X, columns=["alpha", "beta", "gamma", "delta"])
    data["diagnosis"] = np.where(y == 1, "sick", "healthy")
    return data


@pytest.fixture
def csv_file(frame, tmp_path):
    path = tmp_path / "patients.csv"
    frame.to_csv(path, index=False)
    return path


def _error(argv, capsys):
    """Run ``main`` and return the stderr of a failure with exit code 2."""
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.err.startswith("sklimb: error: ")
    assert "Traceback" not in captured.err
    return captured.err


# ------------------------------------------------------------------ success
def test_csv_with_string_target(csv_file, tmp_path, capsys):
    out = tmp_path / "results"
    code = main(["compare", "--data", str(csv_file), "--target", "diagnosis",
                 "--strategies", "ce", "ce+balanced", "--output", str(out), *FAST])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "80 samples, 4 features, 2 strategies x 2 folds x 1 repeat(s)" in captured.out
    assert "threshold metrics" in captured.out and "ranking metrics" in captured.out
    assert "ce+balanced" in captured.out
    assert f"wrote 8 files to {out}" in captured.out
    names = {p.name for p in out.iterdir()}
    assert names == {"scores.csv", "per_class.csv", "times.csv", "summary.csv", "results.json",
                     "report.md", "metrics.png", "per_class_recall.png"}
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Per-class recall" in report and "sick" in report and "healthy" in report
    per_class = pd.read_csv(out / "per_class.csv")
    assert set(per_class["class"]) == {"sick", "healthy"}


def test_builtin_dataset_without_plots(tmp_path, capsys):
    out = tmp_path / "bc"
    code = main(["compare", "--dataset", "breast_cancer", "--strategies", "ce", "ce+balanced",
                 "--output", str(out), "--no-plots", *FAST])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "built-in dataset breast_cancer, 374 samples, 30 features" in captured.out
    assert not list(out.glob("*.png"))
    summary = pd.read_csv(out / "summary.csv", index_col="strategy")
    assert set(summary.index) == {"ce", "ce+balanced"}
    assert (out / "report.md").exists()


def test_options_reach_the_comparison(tmp_path, capsys):
    out = tmp_path / "digits"
    code = main(["compare", "--imbalance-ratio", "10", "--strategies", "focal+gamma=1",
                 "--metrics", "f1_macro", "roc_auc_ovr", "--folds", "2", "--repeats", "2",
                 "--max-epochs", "2", "--random-state", "3", "--quiet", "--no-plots",
                 "--output", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "built-in dataset long_tailed_digits" in captured.out
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores["metric"]) == {"f1_macro", "roc_auc_ovr"}
    assert set(scores["repeat"]) == {0, 1} and set(scores["fold"]) == {0, 1}
    assert set(scores["strategy"]) == {"focal+gamma=1"}
    setup = json.loads((out / "results.json").read_text(encoding="utf-8"))["setup"]
    assert setup["random_state"] == 3 and setup["net_params"] == {"max_epochs": "2"}


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "usage: sklimb" in out and "compare" in out


def test_parquet_file(frame, tmp_path, capsys):
    pytest.importorskip("pyarrow")
    path = tmp_path / "patients.parquet"
    frame.to_parquet(path)
    out = tmp_path / "pq"
    code = main(["compare", "--data", str(path), "--target", "diagnosis", "--strategies", "ce",
                 "--output", str(out), "--no-plots", *FAST])
    assert code == 0, capsys.readouterr().err
    assert (out / "report.md").exists()


def test_parquet_without_an_engine_is_a_clean_error(tmp_path, capsys):
    for engine in ("pyarrow", "fastparquet"):
        try:
            __import__(engine)
        except ImportError:
            continue
        pytest.skip(f"{engine} is installed")
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1")
    err = _error(["compare", "--data", str(path), "--target", "y", *FAST], capsys)
    assert "pyarrow" in err


# ------------------------------------------------------------------ errors
def test_missing_file(tmp_path, capsys):
    err = _error(["compare", "--data", str(tmp_path / "nope.csv"), "--target", "y", *FAST],
                 capsys)
    assert "nope.csv" in err and "not found" in err


def test_data_without_target_lists_columns(csv_file, capsys):
    err = _error(["compare", "--data", str(csv_file), *FAST], capsys)
    assert "--target" in err
    for column in ("alpha", "beta", "gamma", "delta", "diagnosis"):
        assert column in err


def test_target_not_in_file_lists_columns(csv_file, capsys):
    err = _error(["compare", "--data", str(csv_file), "--target", "outcome", *FAST], capsys)
    assert "'outcome'" in err
    for column in ("alpha", "beta", "gamma", "delta", "diagnosis"):
        assert column in err


def test_non_numeric_feature_is_named(frame, tmp_path, capsys):
    frame["ward"] = np.where(frame["alpha"] > 0, "north", "south")
    path = tmp_path / "mixed.csv"
    frame.to_csv(path, index=False)
    err = _error(["compare", "--data", str(path), "--target", "diagnosis", *FAST], capsys)
    assert "'ward'" in err and "not numeric" in err
    assert "'alpha'" not in err


def test_single_class_target(frame, tmp_path, capsys):
    frame["diagnosis"] = "healthy"
    path = tmp_path / "one.csv"
    frame.to_csv(path, index=False)
    err = _error(["compare", "--data", str(path), "--target", "diagnosis", *FAST], capsys)
    assert "single class" in err and "healthy" in err


def test_missing_target_values(frame, tmp_path, capsys):
    frame.loc[3, "diagnosis"] = None
    path = tmp_path / "gaps.csv"
    frame.to_csv(path, index=False)
    err = _error(["compare", "--data", str(path), "--target", "diagnosis", *FAST], capsys)
    assert "missing values" in err


def test_target_without_data(capsys):
    err = _error(["compare", "--target", "diagnosis", *FAST], capsys)
    assert "--target needs --data" in err


def test_unknown_strategy(csv_file, capsys):
    err = _error(["compare", "--data", str(csv_file), "--target", "diagnosis",
                  "--strategies", "ce", "fokal", *FAST], capsys)
    assert "'fokal'" in err and "focal" in err


def test_unknown_metric(csv_file, capsys):
    err = _error(["compare", "--data", str(csv_file), "--target", "diagnosis",
                  "--metrics", "f1_macro", "gmean", *FAST], capsys)
    assert "gmean" in err


def test_more_folds_than_samples(csv_file, capsys):
    err = _error(["compare", "--data", str(csv_file), "--target", "diagnosis",
                  "--folds", "100", "--max-epochs", "2", "--quiet"], capsys)
    assert "100" in err


@pytest.mark.parametrize("suffix", [".xlsx", ".json", ""])
def test_unsupported_extension(frame, tmp_path, capsys, suffix):
    path = tmp_path / f"table{suffix}"
    path.write_text(frame.to_csv(index=False), encoding="utf-8")
    err = _error(["compare", "--data", str(path), "--target", "diagnosis", *FAST], capsys)
    assert ".csv" in err and ".parquet" in err


def test_invalid_imbalance_ratio_is_a_clean_error(tmp_path, capsys):
    err = _error(["compare", "--dataset", "breast_cancer", "--imbalance-ratio", "1",
                  "--output", str(tmp_path), *FAST], capsys)
    assert "imbalance_ratio" in err


@pytest.mark.parametrize("argv", [
    ["compare", "--dataset", "mnist"],
    ["compare", "--folds", "two"],
    ["frobnicate"],
])
def test_argparse_errors_exit_with_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: sklimb" in capsys.readouterr().err


# ------------------------------------------------------------------ the real entry point
def test_python_dash_m_sklimb(csv_file, tmp_path):
    out = tmp_path / "sub"
    done = subprocess.run(
        [sys.executable, "-m", "sklimb", "compare", "--data", str(csv_file), "--target",
         "diagnosis", "--strategies", "ce", "smote+ce", "--output", str(out), "--no-plots",
         *FAST],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ranked by balanced_accuracy" in done.stdout
    assert (out / "report.md").read_text(encoding="utf-8").startswith("# sklimb comparison")


def test_console_script_reports_errors_with_exit_code_2(tmp_path):
    script = Path(sys.executable).with_name("sklimb")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "sklimb"]
    done = subprocess.run([*command, "compare", "--data", str(tmp_path / "missing.csv"),
                           "--target", "y"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("sklimb: error: ") and "missing.csv" in done.stderr
    assert done.stdout == ""


def test_max_epochs_accepts_auto_and_rejects_other_words(capsys):
    from sklimb.cli import _max_epochs

    assert _max_epochs("auto") == "auto" and _max_epochs("7") == 7
    for bad in ("many", "-3"):
        with pytest.raises(SystemExit):
            main(["compare", "--max-epochs", bad])
        assert "non-negative integer or 'auto'" in capsys.readouterr().err
