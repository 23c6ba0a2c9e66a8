"""
===================================
Your own network with a focal loss
===================================

:class:`~sklimb.ImbalancedNetClassifier` trains a small MLP by default, but
``module=`` accepts any :class:`torch.nn.Module` class that maps a batch of
features to one logit per class. If its constructor has arguments named
``n_features`` and ``n_classes``, the estimator fills them from the data at
fit time; every other argument is set as ``module__<name>`` and can be grid
searched like any scikit-learn parameter.

This example trains a small residual network with the focal loss on a binary
problem where the positive class is 5 % of the data.

Set the environment variable ``SKLIMB_EXAMPLE_EPOCHS`` to train for fewer
epochs (the test suite uses 2).
"""

# %%
# A residual MLP
# --------------
# The network returns raw logits of shape ``(n_samples, n_classes)``: no
# softmax at the end. The losses work on logits (in log space, for numerical
# stability), and ``predict_proba`` applies the softmax itself.
import os

import numpy as np
from sklearn.datasets import make_classification
from sklearn.metrics import average_precision_score, balanced_accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from sklimb import ImbalancedNetClassifier

EPOCHS = int(os.environ.get("SKLIMB_EXAMPLE_EPOCHS", "30"))


class ResidualBlock(nn.Module):
    def __init__(self, width, dropout):
        super().__init__()
        self.body = nn.Sequential(
            nn.LayerNorm(width), nn.Linear(width, width), nn.GELU(), nn.Dropout(dropout)
        )

    def forward(self, X):
        return X + self.body(X)


class ResidualMLP(nn.Module):
    """Input projection, ``depth`` residual blocks, linear output layer.

    ``n_features`` and ``n_classes`` come from the data; ``width``, ``depth``
    and ``dropout`` from ``module__width=...`` and so on.
    """

    def __init__(self, n_features, n_classes, width=32, depth=2, dropout=0.1):
        super().__init__()
        self.stem = nn.Linear(n_features, width)
        self.blocks = nn.Sequential(*(ResidualBlock(width, dropout) for _ in range(depth)))
        self.head = nn.Linear(width, n_classes)

    def forward(self, X):
        return self.head(self.blocks(self.stem(X)))


# %%
# Data
# ----
# 2,000 samples, 5 % positives, a few informative features and some label
# noise. The labels are 0 (negative) and 1 (positive).
X, y = make_classification(
    n_samples=2000, n_features=20, n_informative=6, weights=[0.95], flip_y=0.02,
    class_sep=0.8, random_state=0,
)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)
print("positives in the training set:", int(y_train.sum()), "of", len(y_train))

# %%
# The estimator
# -------------
# ``module=ResidualMLP`` passes the class, not an instance: the estimator
# builds a fresh network on every ``fit``, which is what ``clone`` and
# ``GridSearchCV`` rely on. ``loss="focal"`` with ``loss__gamma=2`` down-weights
# the many easy negatives. In a binary problem a scalar ``loss__alpha`` is the
# RetinaNet weighting: the class in the second column of ``predict_proba``
# (``classes_[1]``, here label 1) gets ``alpha`` and the other ``1 - alpha``.


def focal_net(**params):
    return make_pipeline(
        StandardScaler(),
        ImbalancedNetClassifier(
            module=ResidualMLP,
            module__width=32,
            module__depth=2,
            loss="focal",
            loss__gamma=2.0,
            lr=3e-3,
            max_epochs=EPOCHS,
            batch_size=64,
            random_state=0,
            **params,
        ),
    )


models = {
    "focal, gamma=2": focal_net(),
    "focal, gamma=2, alpha=0.75": focal_net(loss__alpha=0.75),
    "focal, gamma=2, balanced weights": focal_net(class_weight="balanced"),
}

# %%
# Results
# -------
# Average precision summarises the precision-recall curve of the positive
# class and does not depend on a decision threshold; balanced accuracy scores
# the predicted labels.
print(f"{'model':<34} {'avg precision':>13} {'balanced acc':>13}")
for name, model in models.items():
    model.fit(X_train, y_train)
    proba = model.predict_proba(X_test)[:, 1]
    print(f"{name:<34} {average_precision_score(y_test, proba):13.3f} "
          f"{balanced_accuracy_score(y_test, model.predict(X_test)):13.3f}")

# %%
# The fitted network
# ------------------
# The network built at fit time is the ``module_`` attribute of the estimator;
# its first layer was sized from the 20 features and its last from the two
# classes. ``criterion_`` is the loss; ``alpha`` is kept in a buffer, so it
# follows the network to the GPU with ``device="cuda"``.
net = models["focal, gamma=2, alpha=0.75"][-1]
print(net.module_.stem, net.module_.head, sep="\n")
print(net.criterion_, "alpha =", float(net.criterion_.alpha))
n_parameters = sum(p.numel() for p in net.module_.parameters())
print(f"{n_parameters} parameters, {net.n_epochs_} epochs, classes_ = {net.classes_.tolist()}")

# %%
# The module's own arguments are ordinary parameters of the estimator (those
# set explicitly show up in ``get_params``), so they can be searched, for
# example with
# ``GridSearchCV(model, {"imbalancednetclassifier__module__depth": [1, 2, 3]})``.
print(sorted(name for name in models["focal, gamma=2"].get_params() if "module__" in name))
assert isinstance(net.module_, ResidualMLP)
assert np.isclose(net.predict_proba(X_test[:3]).sum(axis=1), 1).all()
