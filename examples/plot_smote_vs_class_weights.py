"""
=========================================
Oversampling with SMOTE or class weights?
=========================================

There are two standard ways to stop a network from ignoring the rare classes:
change the data (oversample the rare classes, here with SMOTE from
imbalanced-learn) or change the loss (give the rare classes larger weights).
This example compares, with the same network and the same cross-validation
folds:

* a plain network trained with cross-entropy;
* an imbalanced-learn pipeline ``StandardScaler -> SMOTE -> network``;
* a network trained with ``class_weight="balanced"``.

SMOTE must only ever see training data, which is why it sits inside an
imbalanced-learn :class:`~imblearn.pipeline.Pipeline`: ``cross_validate``
fits the whole pipeline on each training fold, SMOTE resamples that fold, and
the test fold is scored as it is. Likewise the class weights are computed from
the labels of each training fold.

Set the environment variable ``SKLIMB_EXAMPLE_EPOCHS`` to train for fewer
epochs (the test suite uses 2).
"""

# %%
# Data
# ----
import os

import numpy as np
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import make_pipeline
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.preprocessing import StandardScaler

from sklimb import ImbalancedNetClassifier
from sklimb.datasets import load_long_tailed_digits

EPOCHS = int(os.environ.get("SKLIMB_EXAMPLE_EPOCHS", "30"))

X, y = load_long_tailed_digits(imbalance_ratio=20, return_X_y=True)
print("samples per digit:", np.bincount(y).tolist())

# %%
# Three models
# ------------
# The network settings are shared. imbalanced-learn's ``make_pipeline`` also
# accepts pipelines without a sampler, so the three models are built the same
# way. SMOTE interpolates between a sample and its ``k_neighbors`` nearest
# neighbours of the same class; the rarest digit has only 5 or 6 images in a
# training fold, so ``k_neighbors`` must stay below that.


def network(**params):
    return ImbalancedNetClassifier(
        module__hidden_layer_sizes=(64,), max_epochs=EPOCHS, random_state=0, **params
    )


models = {
    "plain cross-entropy": make_pipeline(StandardScaler(), network()),
    "SMOTE + cross-entropy": make_pipeline(
        StandardScaler(), SMOTE(k_neighbors=3, random_state=0), network()
    ),
    'class_weight="balanced"': make_pipeline(
        StandardScaler(), network(class_weight="balanced")
    ),
}

# %%
# SMOTE grows every class to the size of the largest one, which roughly
# triples this training set, so with the same ``max_epochs`` the SMOTE network
# takes about three times as many optimisation steps. A fourth model gives the
# class-weighted network the same number of steps, to separate the effect of
# the extra training from the effect of the resampling.
models['class_weight="balanced", 3x'] = make_pipeline(
    StandardScaler(), network(class_weight="balanced").set_params(max_epochs=3 * EPOCHS)
)

# %%
# Cross-validation
# ----------------
# Macro F1 and balanced accuracy both give every class the same say, however
# rare it is; plain accuracy would mostly measure the frequent digits.
cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
print(f"{'model':<30} {'macro F1':>15} {'balanced acc':>15} {'fit s':>6}")
for name, model in models.items():
    scores = cross_validate(model, X, y, cv=cv, scoring=["f1_macro", "balanced_accuracy"])
    f1, bacc = scores["test_f1_macro"], scores["test_balanced_accuracy"]
    print(f"{name:<30} {f1.mean():.3f} ± {f1.std():.3f}   {bacc.mean():.3f} ± {bacc.std():.3f} "
          f"{scores['fit_time'].mean():6.2f}")

# %%
# What the network sees
# ---------------------
# Inside the SMOTE pipeline the network is fitted on the resampled labels, and
# everything it derives from ``y`` (``class_counts_``, class weights, the
# counts that ``loss="class_balanced"``, ``"ldam"`` or ``"logit_adjusted"``
# need) comes from them: after SMOTE every class is as large as the largest.
# Combining SMOTE with ``class_weight="balanced"`` therefore adds nothing, as
# the balanced weights of a balanced sample are all 1.
smote_model = models["SMOTE + cross-entropy"].fit(X, y)
weighted_model = models['class_weight="balanced"'].fit(X, y)
print("class_counts_ after SMOTE:  ", smote_model[-1].class_counts_.tolist())
print("class_counts_ without SMOTE:", weighted_model[-1].class_counts_.tolist())
print("balanced class weights:     ", np.round(weighted_model[-1].class_weight_, 2).tolist())

# %%
# Which to choose
# ---------------
# Both fixes raise the scores of the rare digits well above the plain network.
# Class weights cost nothing extra per epoch; SMOTE makes every epoch longer
# but adds new points between neighbours, which helps when neighbours in
# feature space share a class, as they do for these digit images. Compare the
# two at an equal number of optimisation steps before concluding that one is
# better, and with several seeds or repeated folds on data this small. The
# sampler, the class weighting and the loss are all ordinary parameters, so
# ``GridSearchCV`` can choose between them (see the grid-search example).
