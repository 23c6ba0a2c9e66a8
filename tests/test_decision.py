"""TunedDecisionClassifier: thresholds and per-class offsets chosen out of fold."""

import numpy as np
import pytest
from imblearn.over_sampling import RandomOverSampler
from imblearn.pipeline import make_pipeline
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, f1_score
from sklearn.model_selection import (
    StratifiedKFold,
    TunedThresholdClassifierCV,
    cross_val_predict,
    train_test_split,
)
from sklearn.preprocessing import StandardScaler

from sklimb.decision import TunedDecisionClassifier


def binary_data(seed=1):
    return make_classification(1500, weights=[0.93], class_sep=0.6, flip_y=0.02,
                               random_state=seed)


def multiclass_data():
    return make_classification(1200, n_classes=4, n_informative=6, n_clusters_per_class=1,
                               weights=[0.7, 0.2, 0.07, 0.03], class_sep=0.8, random_state=0)


def test_binary_threshold_maximises_the_out_of_fold_score():
    X, y = binary_data()
    clf = TunedDecisionClassifier(LogisticRegression(max_iter=2000), scoring="f1_macro",
                                  random_state=0).fit(X, y)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    proba = cross_val_predict(LogisticRegression(max_iter=2000), X, y, cv=cv,
                              method="predict_proba")[:, 1]
    # no candidate threshold does better out of fold than the chosen one
    best = max(f1_score(y, (proba >= t).astype(int), average="macro") for t in np.unique(proba))
    assert clf.best_score_ == pytest.approx(best)
    assert f1_score(y, (proba >= clf.threshold_).astype(int), average="macro") == \
        pytest.approx(best)
    assert clf.best_score_ > clf.default_score_
    assert clf.threshold_ < 0.5  # the rare positive class needs a lower threshold


def test_binary_predict_applies_the_threshold():
    X, y = binary_data()
    clf = TunedDecisionClassifier(LogisticRegression(max_iter=2000), scoring="f1_macro",
                                  random_state=0).fit(X, y)
    proba = clf.predict_proba(X)[:, 1]
    assert np.array_equal(clf.predict(X), (proba >= clf.threshold_).astype(int))
    assert np.allclose(proba, clf.estimator_.predict_proba(X)[:, 1])  # probabilities untouched


def test_binary_matches_sklearn_tuned_threshold_within_noise():
    X, y = binary_data(seed=3)
    X_test, y_test = binary_data(seed=4)
    base = LogisticRegression(max_iter=2000)
    ours = TunedDecisionClassifier(base, scoring="f1_macro", random_state=0).fit(X, y)
    theirs = TunedThresholdClassifierCV(base, scoring="f1_macro", random_state=0).fit(X, y)
    plain = clone(base).fit(X, y)
    scores = {name: f1_score(y_test, model.predict(X_test), average="macro")
              for name, model in {"ours": ours, "theirs": theirs, "plain": plain}.items()}
    assert scores["ours"] > scores["plain"]
    assert abs(scores["ours"] - scores["theirs"]) < 0.05


@pytest.mark.parametrize("method", ["prior", "per_class"])
def test_multiclass_offsets_improve_balanced_accuracy_out_of_fold(method):
    X, y = multiclass_data()
    clf = TunedDecisionClassifier(LogisticRegression(max_iter=2000), method=method,
                                  random_state=0).fit(X, y)
    assert clf.class_offsets_.shape == (4,)
    assert clf.class_offsets_[0] == 0.0
    assert clf.best_score_ > clf.default_score_
    assert clf.threshold_ is None
    if method == "prior":
        assert clf.tau_ > 0
        assert np.all(np.diff(clf.class_offsets_) > 0)  # rarer classes get larger offsets


def test_multiclass_tuning_helps_on_unseen_data():
    X, y = make_classification(4000, n_classes=4, n_informative=6, n_clusters_per_class=1,
                               weights=[0.7, 0.2, 0.07, 0.03], class_sep=0.8, random_state=5)
    X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=0.3, stratify=y,
                                                        random_state=0)
    plain = LogisticRegression(max_iter=2000).fit(X_train, y_train)
    tuned = TunedDecisionClassifier(LogisticRegression(max_iter=2000),
                                    random_state=0).fit(X_train, y_train)
    assert balanced_accuracy_score(y_test, tuned.predict(X_test)) > balanced_accuracy_score(
        y_test, plain.predict(X_test))


def test_string_labels_and_a_resampling_pipeline():
    X, y = binary_data()
    labels = np.array(["no", "yes"])[y]
    pipe = make_pipeline(StandardScaler(), RandomOverSampler(random_state=0),
                         LogisticRegression(max_iter=2000))
    clf = TunedDecisionClassifier(pipe, scoring="f1_macro", random_state=0).fit(X, labels)
    assert set(clf.predict(X)) <= {"no", "yes"}
    assert list(clf.classes_) == ["no", "yes"]


def test_errors():
    X, y = binary_data()
    with pytest.raises(ValueError, match=r"'method' parameter of TunedDecisionClassifier must "
                                         r"be a str among .*Got 'best'"):
        TunedDecisionClassifier(LogisticRegression(), method="best").fit(X, y)
    with pytest.raises(ValueError, match="only one class"):
        TunedDecisionClassifier(LogisticRegression()).fit(X, np.zeros(len(y)))
