"""The ``sklimb compare`` command, in-process through ``main`` and as a real subprocess."""

import importlib
import json
import subprocess
import sys
import warnings
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
    for bad in ("many", "-3", "0"):
        with pytest.raises(SystemExit):
            main(["compare", "--max-epochs", bad])
        assert "expected an integer >= 1 or 'auto'" in capsys.readouterr().err


# ------------------------------------------------------------------ checked before any fit
def _fits_never_started(monkeypatch):
    import sklimb.cli

    def no_compare(*args, **kwargs):
        raise AssertionError("compare() must not run")

    monkeypatch.setattr(sklimb.cli, "compare", no_compare)


@pytest.mark.parametrize("kind", ["file", "under_a_file", "empty"])
def test_output_path_is_checked_before_any_fit(kind, csv_file, tmp_path, capsys, monkeypatch):
    _fits_never_started(monkeypatch)
    existing = tmp_path / "results.txt"
    existing.write_text("keep me")
    output = {"file": str(existing), "under_a_file": str(existing / "results"),
              "empty": ""}[kind]
    err = _error(["compare", "--data", str(csv_file), "--target", "diagnosis",
                  "--output", output, *FAST], capsys)
    expected = {"file": "is a file, not a folder", "under_a_file": "lies under the file",
                "empty": "--output is empty"}[kind]
    assert expected in err
    assert existing.read_text() == "keep me"


@pytest.mark.skipif(sys.platform == "win32" or __import__("os").geteuid() == 0,
                    reason="root can write into read-only folders")
def test_unwritable_output_folder_is_checked_before_any_fit(csv_file, tmp_path, capsys,
                                                            monkeypatch):
    _fits_never_started(monkeypatch)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        err = _error(["compare", "--data", str(csv_file), "--target", "diagnosis",
                      "--output", str(locked / "out"), *FAST], capsys)
    finally:
        locked.chmod(0o700)
    assert "is not writable" in err


@pytest.mark.parametrize("device, expected", [
    ("bogus", "is not a torch device"),
    ("cuda" if not __import__("torch").cuda.is_available() else "cuda:99",
     "device"),
])
def test_unusable_device_is_named(device, expected, csv_file, capsys, monkeypatch):
    _fits_never_started(monkeypatch)
    err = _error(["compare", "--data", str(csv_file), "--target", "diagnosis",
                  "--device", device, *FAST], capsys)
    assert f"--device {device!r}" in err and expected in err


def test_unreachable_scheduler_is_named(csv_file, capsys, monkeypatch):
    compare_module = importlib.import_module("sklimb.compare")
    monkeypatch.setattr(compare_module, "SCHEDULER_TIMEOUT", 1)
    err = _error(["compare", "--data", str(csv_file), "--target", "diagnosis",
                  "--scheduler", "tcp://127.0.0.1:1", "--strategies", "ce", *FAST], capsys)
    assert "could not reach the Dask scheduler at 'tcp://127.0.0.1:1'" in err


def test_csv_with_only_a_header(tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_text("a,b,label\n")
    err = _error(["compare", "--data", str(path), "--target", "label", *FAST], capsys)
    assert "has no rows" in err


def test_semicolon_separated_csv_is_detected(frame, tmp_path, capsys):
    path = tmp_path / "semicolons.csv"
    frame.to_csv(path, sep=";", index=False)
    out = tmp_path / "out"
    code = main(["compare", "--data", str(path), "--target", "diagnosis", "--strategies", "ce",
                 "--output", str(out), "--no-plots", *FAST])
    assert code == 0, capsys.readouterr().err
    assert "80 samples, 4 features" in capsys.readouterr().out


def test_describe_accepts_a_single_class_like_the_function(frame, tmp_path, capsys):
    path = tmp_path / "one.csv"
    frame.assign(diagnosis="healthy").to_csv(path, index=False)
    assert main(["describe", "--data", str(path), "--target", "diagnosis"]) == 0
    assert "only one class" in capsys.readouterr().out


def test_ctrl_c_writes_the_finished_folds_as_a_partial_result(csv_file, tmp_path, capsys,
                                                              monkeypatch):
    compare_module = importlib.import_module("sklimb.compare")
    calls = {"n": 0}
    original = compare_module._run_fold

    def interrupt_third(task, X, y, shared):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(task, X, y, shared)

    monkeypatch.setattr(compare_module, "_run_fold", interrupt_third)
    out = tmp_path / "partial"
    code = main(["compare", "--data", str(csv_file), "--target", "diagnosis", "--n-jobs", "1",
                 "--strategies", "ce", "focal", "--output", str(out), "--no-plots", *FAST])
    captured = capsys.readouterr()
    assert code == 130
    assert "interrupted after 2 of 4 fits" in captured.err
    assert "Traceback" not in captured.err
    assert "Partial result" in (out / "report.md").read_text(encoding="utf-8")
    assert json.loads((out / "results.json").read_text())["setup"]["partial"] is True
    assert len(pd.read_csv(out / "times.csv")) == 2


def test_default_run_prints_no_warning_and_no_metric_zero_for_every_strategy(
        tmp_path, capsys):
    out = tmp_path / "demo"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code = main(["compare", "--strategies", "ce", "ce+unweighted", "--quiet",
                     "--no-plots", "--output", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""
    summary = pd.read_csv(out / "summary.csv", index_col="strategy")
    means = summary[[c for c in summary.columns if c.endswith("_mean") and "time" not in c]]
    assert not (means == 0).all(axis=0).any()
