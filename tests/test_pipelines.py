"""ImbalancedNetClassifier inside scikit-learn model selection and (imbalanced-learn) pipelines."""

import numpy as np
import pytest
from imblearn.over_sampling import SMOTE, RandomOverSampler
from imblearn.pipeline import make_pipeline as make_imb_pipeline
from imblearn.under_sampling import RandomUnderSampler
from numpy.testing import assert_array_equal
from sklearn.datasets import make_classification
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklimb import ImbalancedNetClassifier
from sklimb.losses import LOSSES, FocalLoss


def make_clf(**params):
    defaults = dict(lr=0.01, max_epochs=3, batch_size=32, random_state=0,
                    module__hidden_layer_sizes=(16,))
    return ImbalancedNetClassifier(**{**defaults, **params})


def imbalanced_data(n_samples=120, minority=0.1, seed=0):
    X, y = make_classification(n_samples=n_samples, n_features=5, n_informative=3,
                               n_redundant=0, weights=[1 - minority], class_sep=2.0,
                               flip_y=0, random_state=seed)
    return X.astype(np.float32), y


# ------------------------------------------------------------------ model selection
def test_grid_search_over_loss_params():
    X, y = imbalanced_data(minority=0.3)
    search = GridSearchCV(make_clf(loss="focal"), {"loss__gamma": [0.5, 3.0]},
                          scoring="f1_macro", cv=2, error_score="raise").fit(X, y)
    assert [p["loss__gamma"] for p in search.cv_results_["params"]] == [0.5, 3.0]
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    best = search.best_estimator_
    assert isinstance(best.criterion_, FocalLoss)
    assert best.criterion_.gamma == search.best_params_["loss__gamma"]


def test_grid_search_switches_loss_with_its_params():
    X, y = imbalanced_data(minority=0.3)
    grid = [
        {"loss": ["ce"]},
        {"loss": ["focal"], "loss__gamma": [1.0, 2.0]},
        {"loss": ["logit_adjusted"], "loss__tau": [0.5]},
    ]
    search = GridSearchCV(make_clf(), grid, scoring="f1_macro", cv=2,
                          error_score="raise").fit(X, y)
    assert [p["loss"] for p in search.cv_results_["params"]] == [
        "ce", "focal", "focal", "logit_adjusted"]
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    best, params = search.best_estimator_, search.best_params_
    assert isinstance(best.criterion_, LOSSES[params["loss"]])
    for key, value in params.items():
        if key.startswith("loss__"):
            assert getattr(best.criterion_, key.removeprefix("loss__")) == value


def test_cross_validate_counts_come_from_each_training_fold():
    X, y = imbalanced_data(minority=0.3)
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    result = cross_validate(make_clf(loss="ldam", class_weight="balanced"), X, y, cv=cv,
                            scoring=["f1_macro", "balanced_accuracy"], return_estimator=True,
                            return_indices=True, error_score="raise")
    assert np.all(np.isfinite(result["test_f1_macro"]))
    for estimator, train in zip(result["estimator"], result["indices"]["train"], strict=True):
        counts = np.bincount(y[train])
        assert_array_equal(estimator.class_counts_, counts)
        assert_array_equal(estimator.criterion_.class_counts.numpy(), counts)
        np.testing.assert_allclose(estimator.class_weight_, len(train) / (2 * counts))


def test_sklearn_pipeline_with_standard_scaler():
    X, y = imbalanced_data(minority=0.3)
    X_far = X * 1000 + 5000  # unscaled features: the scaler must run before the network
    pipe = make_pipeline(StandardScaler(), make_clf(max_epochs=20)).fit(X_far, y)
    assert balanced_accuracy_score(y, pipe.predict(X_far)) > 0.8
    assert pipe.predict_proba(X_far).shape == (len(y), 2)
    assert_array_equal(pipe.classes_, [0, 1])


# ------------------------------------------------------------------ imbalanced-learn
@pytest.mark.parametrize("sampler, expected", [
    (SMOTE(random_state=0), "majority"),
    (RandomOverSampler(random_state=0), "majority"),
    (RandomUnderSampler(random_state=0), "minority"),
])
def test_imblearn_pipeline_counts_reflect_resampled_y(sampler, expected):
    X, y = imbalanced_data()
    counts = np.bincount(y)
    assert counts[1] < counts[0]
    pipe = make_imb_pipeline(sampler, make_clf(class_weight="balanced")).fit(X, y)
    clf = pipe[-1]
    n_per_class = counts.max() if expected == "majority" else counts.min()
    assert_array_equal(clf.class_counts_, [n_per_class, n_per_class])
    np.testing.assert_allclose(clf.class_weight_, [1.0, 1.0])
    for epoch in clf.history:  # no internal hold-out: every resampled row is trained on
        assert sum(batch["train_batch_size"] for batch in epoch["batches"]) == 2 * n_per_class
    assert set(pipe.predict(X)) <= {0, 1}


def test_imblearn_pipeline_in_grid_search():
    X, y = imbalanced_data(minority=0.2)
    pipe = make_imb_pipeline(RandomOverSampler(random_state=0), make_clf(loss="focal"))
    search = GridSearchCV(pipe, {"imbalancednetclassifier__loss__gamma": [0.0, 2.0]},
                          scoring="f1_macro", cv=2, error_score="raise").fit(X, y)
    assert search.best_estimator_[-1].criterion_.gamma in (0.0, 2.0)


def test_smote_with_too_few_minority_samples_has_clear_error():
    X, y = imbalanced_data(n_samples=60, minority=0.1)
    assert np.bincount(y)[1] <= 6
    pipe = make_imb_pipeline(SMOTE(k_neighbors=10, random_state=0), make_clf())
    with pytest.raises(ValueError, match=r"n_neighbors.*n_samples"):
        pipe.fit(X, y)
