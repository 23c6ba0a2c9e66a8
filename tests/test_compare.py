"""The comparison engine: shared folds, no leakage, result tables, reports and Dask."""

import importlib
import json
import threading
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from imblearn.pipeline import make_pipeline as make_imb_pipeline
from imblearn.under_sampling import RandomUnderSampler
from matplotlib.figure import Figure
from pandas.testing import assert_frame_equal
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sklimb import ImbalancedNetClassifier
from sklimb.compare import compare
from sklimb.metrics import DEFAULT_METRICS, RANKING, THRESHOLD, metric_kind
from sklimb.strategies import Strategy

NET = {"max_epochs": 2, "batch_size": 32, "lr": 0.01, "module__hidden_layer_sizes": (8,)}
STRATEGIES = ["ce", "ce+balanced", "smote+focal"]
CV, REPEATS = 3, 2
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_data(n_samples=120, seed=0):
    X, y = make_classification(n_samples=n_samples, n_features=4, n_informative=3,
                               n_redundant=0, n_classes=3, weights=[0.6, 0.3, 0.1],
                               class_sep=1.5, flip_y=0, random_state=seed)
    return X.astype(np.float32), y


def run(X, y, strategies=("ce", "ce+balanced"), **kwargs):
    kwargs = {"cv": 3, "net_params": NET, "progress": False, **kwargs}
    if isinstance(strategies, tuple):
        strategies = list(strategies)
    return compare(X, y, strategies, **kwargs)


@pytest.fixture(scope="module")
def data():
    return make_data()


@pytest.fixture(scope="module")
def result(data):
    X, y = data
    return compare(X, y, STRATEGIES, cv=CV, n_repeats=REPEATS, net_params=NET,
                   random_state=0, progress=False)


# ------------------------------------------------------------------ recording estimators
class RecordingClassifier(ClassifierMixin, BaseEstimator):
    """Predicts training-set priors; remembers which rows (feature 0) it saw in fit/predict.

    The records go to ``sink``, a fresh list per test (the ``records`` fixture).
    """

    sink = None

    def __init__(self, tag="plain"):
        self.tag = tag

    def fit(self, X, y):
        self.classes_, counts = np.unique(y, return_counts=True)
        self.priors_ = counts / counts.sum()
        self.record_ = {"tag": self.tag, "train": X[:, 0].astype(int), "y": np.asarray(y),
                        "thread": threading.current_thread().name}
        type(self).sink.append(self.record_)
        return self

    def predict(self, X):
        self.record_["test"] = X[:, 0].astype(int)
        return np.full(len(X), self.classes_[np.argmax(self.priors_)])

    def predict_proba(self, X):
        return np.tile(self.priors_, (len(X), 1))


class RecordingNet(ImbalancedNetClassifier):
    """The real network, which also keeps the class counts and weights of every fit."""

    sink = None

    def fit(self, X, y, sample_weight=None, **fit_params):
        super().fit(X, y, sample_weight=sample_weight, **fit_params)
        type(self).sink.append({"tag": "net", "counts": self.class_counts_.copy(),
                        "weight": np.asarray(self.class_weight_).copy(), "n": len(y)})
        return self


@pytest.fixture
def records(monkeypatch):
    """A fresh list that the recording estimators of one test write to."""
    sink = []
    monkeypatch.setattr(RecordingClassifier, "sink", sink)
    monkeypatch.setattr(RecordingNet, "sink", sink)
    return sink


def _train_counts_from_supports(result, strategy):
    """Class counts of every training fold: all samples minus the test-fold supports."""
    supports = result.per_class[result.per_class["strategy"] == strategy]
    train = []
    for _, fold in supports.groupby(["repeat", "fold"]):
        test = fold.set_index("class").loc[result.classes, "support"].to_numpy()
        train.append(tuple((result.class_counts - test).tolist()))
    return Counter(train)


# ------------------------------------------------------------------ tables
def test_tables_have_documented_columns_and_one_row_per_cell(result):
    metrics = list(DEFAULT_METRICS)
    assert list(result.scores.columns) == ["strategy", "repeat", "fold", "metric", "kind",
                                           "value"]
    assert list(result.per_class.columns) == ["strategy", "repeat", "fold", "class",
                                              "precision", "recall", "f1", "support"]
    assert list(result.times.columns) == ["strategy", "repeat", "fold", "fit_time",
                                          "predict_time", "prediction_hash"]
    n_cells = len(STRATEGIES) * CV * REPEATS
    assert len(result.scores) == n_cells * len(metrics)
    assert len(result.per_class) == n_cells * 3
    assert len(result.times) == n_cells
    keys = result.scores[["strategy", "repeat", "fold", "metric"]]
    assert not keys.duplicated().any()
    expected = pd.MultiIndex.from_product([STRATEGIES, range(REPEATS), range(CV), metrics])
    assert set(map(tuple, keys.to_numpy())) == set(expected)
    assert (result.scores["kind"] == result.scores["metric"].map(metric_kind)).all()
    values = result.scores["value"]
    assert values.notna().all() and values.between(0, 1).all()
    assert (result.times[["fit_time", "predict_time"]] > 0).all().all()
    assert result.strategies == STRATEGIES
    assert result.metrics == {m: metric_kind(m) for m in metrics}
    assert result.classes.tolist() == [0, 1, 2]
    assert result.class_counts.tolist() == np.bincount(make_data()[1]).tolist()
    assert result.setup["cv"] == CV and result.setup["n_repeats"] == REPEATS


def test_summary_ranks_by_the_first_metric(result):
    summary = result.summary()
    assert sorted(summary.index) == sorted(STRATEGIES)
    expected_columns = [(m, s) for m in DEFAULT_METRICS for s in ("mean", "std", "p", "top")]
    assert list(summary.columns) == [*expected_columns, ("fit_time", "mean")]
    primary = summary[("balanced_accuracy", "mean")].to_numpy()
    assert np.all(np.diff(primary) <= 0)
    grouped = result.scores.groupby(["strategy", "metric"])["value"]
    for strategy in STRATEGIES:
        for metric in DEFAULT_METRICS:
            assert summary.loc[strategy, (metric, "mean")] == pytest.approx(
                grouped.mean()[(strategy, metric)])
            assert summary.loc[strategy, (metric, "std")] == pytest.approx(
                grouped.std()[(strategy, metric)])
        assert summary.loc[strategy, ("fit_time", "mean")] == pytest.approx(
            result.times.loc[result.times["strategy"] == strategy, "fit_time"].mean())


def test_summary_order_follows_a_custom_first_metric(data):
    X, y = data
    res = run(X, y, ["ce", "ce+balanced", "under+ce"], metrics=["f1_macro", "roc_auc"])
    summary = res.summary()
    assert res.primary_metric == "f1_macro"
    assert list(summary.columns.get_level_values(0)) == [
        *["f1_macro"] * 4, *["roc_auc"] * 4, "fit_time"]
    assert np.all(np.diff(summary[("f1_macro", "mean")].to_numpy()) <= 0)
    ranks = res.ranks()
    assert ranks.loc[summary.index[0], "f1_macro"] == 1
    assert list(ranks.columns) == ["f1_macro", "roc_auc", "mean_rank"]
    assert ranks["mean_rank"].is_monotonic_increasing


def test_summary_by_kind(result):
    threshold = result.summary("threshold")
    ranking = result.summary("ranking")
    assert set(threshold.columns.get_level_values(0)) == {
        m for m in DEFAULT_METRICS if metric_kind(m) == THRESHOLD} | {"fit_time"}
    assert set(ranking.columns.get_level_values(0)) == {
        "average_precision", "roc_auc", "fit_time"}
    # the primary metric is a threshold metric, so ranking summaries rank by the first
    # ranking metric instead
    assert np.all(np.diff(ranking[("average_precision", "mean")].to_numpy()) <= 0)
    table = result.summary_table(RANKING)
    assert list(table.columns) == ["average_precision", "roc_auc", "fit s"]
    assert all("±" in cell for cell in table["roc_auc"])


def test_every_strategy_sees_the_same_folds(result):
    supports = result.per_class.pivot_table(index=["repeat", "fold", "class"],
                                            columns="strategy", values="support")
    for strategy in STRATEGIES[1:]:
        assert (supports[strategy] == supports[STRATEGIES[0]]).all()
    # the test folds of one repeat partition the data
    per_repeat = result.per_class[result.per_class["strategy"] == "ce"].groupby(
        ["repeat", "class"])["support"].sum()
    for repeat in range(REPEATS):
        assert per_repeat[repeat].tolist() == result.class_counts.tolist()


def test_per_class_recall_table(result):
    recall = result.per_class_recall()
    assert list(recall.index) == list(result.summary().index)
    assert list(recall.columns) == [0, 1, 2]
    means = result.per_class.groupby(["strategy", "class"])["recall"].mean()
    assert recall.loc["ce", 2] == pytest.approx(means[("ce", 2)])
    # minority_recall is the recall of the rarest class, fold by fold
    minority = result.per_class[result.per_class["class"] == 2].set_index(
        ["strategy", "repeat", "fold"])["recall"]
    scored = result.scores[result.scores["metric"] == "minority_recall"].set_index(
        ["strategy", "repeat", "fold"])["value"]
    assert np.allclose(scored.sort_index(), minority.sort_index())


# ------------------------------------------------------------------ no leakage
def test_fits_see_only_the_training_fold_and_predict_only_the_test_fold(records):
    X, y = make_data(90, seed=1)
    X[:, 0] = np.arange(len(y))   # feature 0 is the row number
    strategies = {
        "plain": RecordingClassifier(tag="plain"),
        "under": make_imb_pipeline(RandomUnderSampler(random_state=0),
                                   RecordingClassifier(tag="under")),
    }
    res = compare(X, y, strategies, cv=3, n_repeats=2, progress=False)
    assert sorted(res.summary().index) == ["plain", "under"]
    assert Counter(r["tag"] for r in records) == {"plain": 6, "under": 6}
    everything = set(range(len(y)))
    test_sets = {"plain": Counter(), "under": Counter()}
    for record in records:
        train, test = set(record["train"].tolist()), set(record["test"].tolist())
        assert not train & test, "a test row was used for fitting"
        np.testing.assert_array_equal(record["y"], y[record["train"]])
        fold_train = np.array(sorted(everything - test))
        if record["tag"] == "plain":
            assert train == set(fold_train.tolist())
            assert len(record["train"]) == len(train)
        else:   # undersampled inside the training fold, to its own rarest class
            fold_counts = np.bincount(y[fold_train], minlength=3)
            assert np.bincount(record["y"], minlength=3).tolist() == [fold_counts.min()] * 3
        test_sets[record["tag"]][frozenset(test)] += 1
    # both strategies are tested on the same folds; each repeat covers every row once
    assert test_sets["plain"] == test_sets["under"]
    coverage = Counter(row for fold, n in test_sets["plain"].items() for row in fold
                       for _ in range(n))
    assert set(coverage.values()) == {2} and set(coverage) == everything
    # the per-class supports reported are those of the folds the estimators predicted on
    reported = Counter(tuple(fold.set_index("class").loc[[0, 1, 2], "support"])
                       for _, fold in res.per_class[res.per_class["strategy"] == "plain"]
                       .groupby(["repeat", "fold"]))
    seen = Counter(tuple(np.bincount(y[sorted(fold)], minlength=3)) for fold, n in
                   test_sets["plain"].items() for _ in range(n))
    assert reported == seen


def test_class_weights_are_computed_per_training_fold(data, records):
    X, y = data
    net = RecordingNet(class_weight="balanced", random_state=0, **NET)
    res = compare(X, y, {"net": make_imb_pipeline(StandardScaler(), net)}, cv=CV,
                  n_repeats=REPEATS, progress=False)
    records = [r for r in records if r["tag"] == "net"]
    assert len(records) == CV * REPEATS
    seen = Counter(tuple(r["counts"].tolist()) for r in records)
    assert seen == _train_counts_from_supports(res, "net")
    whole = tuple(res.class_counts.tolist())
    assert whole not in seen
    for record in records:
        expected = record["n"] / (3 * record["counts"])
        np.testing.assert_allclose(record["weight"], expected)


def test_smote_neighbours_come_from_the_training_fold():
    # 4 samples of class 1: each training fold of a 2-fold CV holds 2 of them, so SMOTE
    # must use k_neighbors=1; k chosen from the whole data (3) would fail.
    rng = np.random.default_rng(0)
    y = np.array([0] * 40 + [1] * 4)
    X = (rng.normal(size=(44, 3)) + y[:, None]).astype(np.float32)
    res = run(X, y, ["smote+ce"], cv=2)
    assert len(res.times) == 2
    assert res.scores["value"].notna().all()


# ------------------------------------------------------------------ kinds of input
def test_user_estimators_and_strategy_objects(data):
    X, y = data
    strategies = {
        "ce": "ce",
        "logreg": LogisticRegression(class_weight="balanced", max_iter=1000),
        "my_focal": Strategy(name="ignored", loss="focal", loss_params={"gamma": 1.0}),
    }
    res = compare(X, y, strategies, cv=3, net_params=NET, progress=False)
    assert res.strategies == ["ce", "logreg", "my_focal"]
    assert set(res.summary().index) == {"ce", "logreg", "my_focal"}
    logreg = res.scores[res.scores["strategy"] == "logreg"]
    assert len(logreg) == 3 * len(DEFAULT_METRICS)
    assert logreg["value"].notna().all()
    assert logreg.loc[logreg["metric"] == "balanced_accuracy", "value"].mean() > 0.6
    listed = compare(X, y, [Strategy(name="named", loss="ce"), "ce"], cv=3, net_params=NET,
                     progress=False)
    assert listed.strategies == ["named", "ce"]


def test_single_strategy_string(data):
    X, y = data
    assert run(X, y, "ce+balanced").strategies == ["ce+balanced"]


def test_string_labels(data):
    X, y = data
    names = np.array(["cat", "dog", "eel"])[y]
    res = run(X, names, ["ce", "ce+balanced"], n_repeats=1)
    assert res.classes.tolist() == ["cat", "dog", "eel"]
    assert set(res.per_class["class"]) == {"cat", "dog", "eel"}
    assert res.scores["value"].notna().all()
    numeric = run(X, y, ["ce", "ce+balanced"], n_repeats=1)
    np.testing.assert_allclose(res.scores["value"], numeric.scores["value"])
    minority = res.per_class[res.per_class["class"] == "eel"]["recall"].to_numpy()
    scored = res.scores[res.scores["metric"] == "minority_recall"]["value"].to_numpy()
    np.testing.assert_allclose(scored, minority)
    assert "eel" in res.to_markdown()


def test_dataframe_input(data):
    X, y = data
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["flag"] = frame["a"] > 0                      # bool counts as numeric
    frame["count"] = np.arange(len(frame)) % 3
    res = run(frame, pd.Series(y, name="target"))
    expected = run(frame.to_numpy(dtype=np.float32), y)
    assert_frame_equal(res.scores, expected.scores)
    assert res.setup["n_features"] == 6


def test_progress_bar(data, capsys):
    X, y = data
    run(X, y, ["ce"], cv=2, progress=False)
    assert "sklimb compare" not in capsys.readouterr().err
    run(X, y, ["ce"], cv=2, progress=True)
    assert "sklimb compare" in capsys.readouterr().err


# ------------------------------------------------------------------ reports and files
def test_to_markdown_sections(result):
    report = result.to_markdown()
    assert report.startswith("# sklimb comparison")
    assert "## Threshold metrics" in report and "## Ranking metrics" in report
    assert "## Per-class recall" in report
    assert report.index("## Threshold") < report.index("## Ranking") < report.index(
        "## Per-class")
    for strategy in STRATEGIES:
        assert strategy in report
    counts = result.class_counts
    assert f"{{0: {counts[0]}, 1: {counts[1]}, 2: {counts[2]}}}" in report
    assert f"imbalance ratio {counts.max() / counts.min():.1f}" in report
    assert "3-fold cross-validation x 2 repeat(s)" in report
    assert "ranked by balanced_accuracy" in report


def test_to_markdown_only_the_kinds_requested(data):
    X, y = data
    res = run(X, y, ["ce"], metrics=["f1_macro", "balanced_accuracy"])
    report = res.to_markdown()
    assert "## Threshold metrics" in report and "## Ranking metrics" not in report
    assert "## Per-class recall" in report
    assert "ComparisonResult(" in repr(res) and "f1_macro" in repr(res)


def test_save_writes_tables_report_and_plots(result, tmp_path):
    folder = tmp_path / "out" / "nested"
    paths = result.save(folder)
    names = {"scores.csv", "per_class.csv", "times.csv", "summary.csv", "results.json",
             "report.md", "metrics.png", "per_class_recall.png"}
    assert {p.name for p in paths} == names
    assert {p.name for p in folder.iterdir()} == names
    for png in ("metrics.png", "per_class_recall.png"):
        content = (folder / png).read_bytes()
        assert content.startswith(PNG_MAGIC) and len(content) > 1000
    scores = pd.read_csv(folder / "scores.csv")
    assert list(scores.columns) == list(result.scores.columns)
    np.testing.assert_allclose(scores["value"], result.scores["value"])
    summary = pd.read_csv(folder / "summary.csv", index_col="strategy")
    assert list(summary.index) == list(result.summary().index)
    assert "balanced_accuracy_mean" in summary.columns and "fit_time_mean" in summary.columns
    payload = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    assert set(payload) >= {"setup", "metrics", "classes", "class_counts", "summary"}
    assert payload["class_counts"] == result.class_counts.tolist()
    assert set(payload["summary"]) == set(STRATEGIES)
    report = (folder / "report.md").read_text(encoding="utf-8")
    assert report.startswith(result.to_markdown())
    assert "metrics.png" in report and "per_class_recall.png" in report


def test_save_without_plots(result, tmp_path):
    paths = result.save(tmp_path, plots=False)
    assert len(paths) == 6
    assert not list(tmp_path.glob("*.png"))
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert ".png" not in report
    assert report == result.to_markdown()


def test_plots_return_figures(result):
    import matplotlib.pyplot as plt

    fig = result.plot_metrics()
    assert isinstance(fig, Figure) and len(fig.axes) == len(DEFAULT_METRICS)
    plt.close(fig)
    fig = result.plot_metrics(["roc_auc"])
    assert len(fig.axes) == 1
    plt.close(fig)
    fig = result.plot_per_class_recall()
    assert isinstance(fig, Figure) and len(fig.axes) == 2    # heat map and colour bar
    plt.close(fig)


# ------------------------------------------------------------------ determinism
def test_same_random_state_gives_identical_results(data, result):
    X, y = data
    again = compare(X, y, STRATEGIES, cv=CV, n_repeats=REPEATS, net_params=NET,
                    random_state=0, progress=False)
    assert_frame_equal(again.scores, result.scores)
    assert_frame_equal(again.per_class, result.per_class)


def test_random_state_changes_the_folds(data, records):
    X, y = make_data(90, seed=1)
    X[:, 0] = np.arange(len(y))
    test_sets = []
    for seed in (0, 1):
        records.clear()
        compare(X, y, {"r": RecordingClassifier()}, cv=3, random_state=seed, progress=False)
        test_sets.append({frozenset(r["test"].tolist()) for r in records})
    assert test_sets[0] != test_sets[1]


def test_parallel_fits_give_the_same_scores(data):
    X, y = data
    serial = run(X, y, ["ce", "focal"], n_jobs=1)
    parallel = run(X, y, ["ce", "focal"], n_jobs=2)
    assert_frame_equal(parallel.scores, serial.scores)
    assert_frame_equal(parallel.per_class, serial.per_class)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("strategies, match", [
    (["ce", "fokal"], "unknown part 'fokal'"),
    (["ce", "ce"], "appears twice"),
    ([Strategy(name="ce"), "ce"], "appears twice"),
    ([], "empty"),
    ({}, "empty"),
    ({"bad": 42}, "'bad'.*int"),
])
def test_invalid_strategies(data, strategies, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        compare(X, y, strategies, cv=2, progress=False)


def test_invalid_metric(data):
    X, y = data
    with pytest.raises(ValueError, match=r"unknown metric.*'f2'"):
        compare(X, y, ["ce"], metrics=["f1_macro", "f2"], cv=2, progress=False)


def test_single_class(data):
    X, _ = data
    with pytest.raises(ValueError, match="one class"):
        compare(X, np.zeros(len(X), dtype=int), ["ce"], cv=2, progress=False)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_features(data, bad):
    X, y = data
    X = X.copy()
    X[3, 1] = bad
    with pytest.raises(ValueError, match=r"(?i)nan|infinity"):
        compare(X, y, ["ce"], cv=2, progress=False)


def test_non_numeric_column_is_named(data):
    X, y = data
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["colour"] = np.where(y == 0, "red", "blue")
    with pytest.raises(ValueError, match="colour") as info:
        compare(frame, y, ["ce"], cv=2, progress=False)
    assert "'a'" not in str(info.value)


# ------------------------------------------------------------------ Dask
def _cluster(n_workers, processes):
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                       processes=processes, dashboard_address=":0")
    return cluster, distributed.Client(cluster)


@pytest.fixture(scope="module")
def threaded_cluster():
    """Two single-thread workers inside this process (their threads are named Dask-...)."""
    cluster, client = _cluster(2, processes=False)
    yield cluster, client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def process_cluster():
    """Two worker processes reached over TCP, like a real cluster."""
    cluster, client = _cluster(2, processes=True)
    yield cluster, client
    client.close()
    cluster.close()


def _recording_run(X, y, records, **kwargs):
    records.clear()
    strategies = {"plain": RecordingClassifier(tag="plain"),
                  "under": make_imb_pipeline(RandomUnderSampler(random_state=0),
                                             RecordingClassifier(tag="under"))}
    result = compare(X, y, strategies, cv=3, n_repeats=2, progress=False, **kwargs)
    return result, [r["thread"] for r in records]


@pytest.mark.parametrize("how", ["client", "address"])
def test_dask_fits_run_on_the_cluster(threaded_cluster, how, records):
    cluster, client = threaded_cluster
    X, y = make_data(90, seed=1)
    X[:, 0] = np.arange(len(y))
    local, local_threads = _recording_run(X, y, records)
    assert set(local_threads) == {"MainThread"}
    scheduler = client if how == "client" else cluster.scheduler_address
    remote, threads = _recording_run(X, y, records, scheduler=scheduler)
    assert len(threads) == 12 and all("Dask" in name for name in threads)
    assert_frame_equal(remote.scores, local.scores)
    assert_frame_equal(remote.per_class, local.per_class)


def test_dask_single_thread_cluster_runs_on_the_cluster(records):
    # The documented promise: with a scheduler "the fits then run on that cluster",
    # also when the cluster has a single worker thread.
    cluster, client = _cluster(1, processes=False)
    try:
        X, y = make_data(90, seed=1)
        X[:, 0] = np.arange(len(y))
        _, threads = _recording_run(X, y, records, scheduler=client)
    finally:
        client.close()
        cluster.close()
    assert all("Dask" in name for name in threads), threads


def test_dask_worker_processes_match_the_local_run(data, process_cluster):
    cluster, client = process_cluster
    X, y = data
    strategies = ["ce", "smote+ce", "focal+balanced"]
    local = run(X, y, strategies, n_repeats=2)
    with_client = run(X, y, strategies, n_repeats=2, scheduler=client)
    with_address = run(X, y, strategies, n_repeats=2, scheduler=cluster.scheduler_address)
    assert cluster.scheduler_address.startswith("tcp://")
    for other in (with_client, with_address):
        assert_frame_equal(other.scores, local.scores)
        assert_frame_equal(other.per_class, local.per_class)


def test_dask_threaded_workers_match_the_local_run(data, threaded_cluster):
    # Dask workers run tasks in threads (several per worker by default); fits running
    # side by side must not disturb each other's seeded random numbers.
    cluster, client = threaded_cluster
    X, y = data
    strategies = ["ce", "smote+ce", "focal+balanced"]
    local = run(X, y, strategies, n_repeats=2)
    for scheduler in (client, cluster.scheduler_address):
        remote = run(X, y, strategies, n_repeats=2, scheduler=scheduler)
        assert_frame_equal(remote.scores, local.scores)
        assert_frame_equal(remote.per_class, local.per_class)


def test_dask_back_to_back_comparisons_on_the_same_data(threaded_cluster):
    # Regression: with content-hashed scatter keys, a comparison started while the previous
    # one's copy of the same arrays was still being released lost its data ("lost
    # dependencies"), about once in 40 runs. Run many back to back, alternating clients.
    cluster, client = threaded_cluster
    X, y = make_data(60, seed=3)
    baseline = {"logistic": LogisticRegression(max_iter=200)}
    first = compare(X, y, baseline, cv=3, progress=False, scheduler=client)
    for i in range(16):
        scheduler = client if i % 2 else cluster.scheduler_address
        again = compare(X, y, baseline, cv=3, progress=False, scheduler=scheduler)
        assert_frame_equal(again.scores, first.scores)



def test_a_class_missing_from_test_folds_is_left_out_of_its_averages():
    rng = np.random.default_rng(0)
    y = np.array([0] * 40 + [1] * 40 + [2] * 4)
    X = (rng.normal(size=(len(y), 3)) + 4.0 * y[:, None]).astype(np.float32)  # separable
    with pytest.warns(importlib.import_module("sklimb.compare").SmallClassWarning,
                      match=r"class\(es\) 2 \(4\) have fewer samples than the 7 folds"):
        res = compare(X, y, {"lr": LogisticRegression(max_iter=1000)}, cv=7, progress=False)
    rows = res.per_class[res.per_class["class"] == 2]
    assert (rows["support"] == 0).sum() == 3
    assert rows.loc[rows["support"] == 0, "recall"].isna().all()
    assert res.per_class_recall().loc["lr", 2] == pytest.approx(1.0)
    minority = res.scores[res.scores["metric"] == "minority_recall"]["value"]
    assert minority.mean() == pytest.approx(1.0)  # NaN folds are skipped the same way
    assert res.missing_classes() == {2: 3}
    assert "Classes absent from some test folds: 2 in 3 of 7" in res.to_markdown()


def test_ctrl_c_raises_with_the_finished_fits(data, monkeypatch):
    X, y = data
    compare_module = importlib.import_module("sklimb.compare")
    original, calls = compare_module._run_fold, []

    def stop_at_fourth(task, X, y, shared):
        calls.append(task)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return original(task, X, y, shared)

    monkeypatch.setattr(compare_module, "_run_fold", stop_at_fourth)
    with pytest.raises(compare_module.ComparisonInterrupted) as stop:
        run(X, y, n_jobs=1)
    assert isinstance(stop.value, KeyboardInterrupt)
    assert (stop.value.n_done, stop.value.n_total) == (3, 6)
    assert stop.value.result.partial and len(stop.value.result.times) == 3


def test_torch_warm_up_runs_once_per_process_and_only_for_networks(data):
    """PyTorch's one-off start-up is paid before the timed fit, once, and only by networks."""
    compare_module = importlib.import_module("sklimb.compare")  # the name is also a function
    X, y = data
    warm_up = compare_module._warm_up_torch
    warm_up.cache_clear()
    run(X, y, {"logreg": LogisticRegression()}, n_jobs=1)
    assert warm_up.cache_info().misses == 0
    run(X, y, {"ce": "ce", "tuned": make_imb_pipeline(
        StandardScaler(), ImbalancedNetClassifier(max_epochs=2, random_state=0))}, n_jobs=1)
    assert warm_up.cache_info().misses == 1
    assert compare_module._uses_network(make_imb_pipeline(
        StandardScaler(), ImbalancedNetClassifier()))
    assert not compare_module._uses_network(LogisticRegression())
