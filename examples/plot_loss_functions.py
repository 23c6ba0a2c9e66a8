"""
=========================================
The imbalance losses in a PyTorch loop
=========================================

:mod:`sklimb.losses` does not need the scikit-learn estimator: every loss is a
plain function (``focal_loss``) and an :class:`torch.nn.Module`
(``FocalLoss``) that take raw logits of shape ``(n_samples, n_classes)`` and
integer targets, exactly like :func:`torch.nn.functional.cross_entropy`. This
example shows the shared conventions on a tiny batch, then trains the same
network with each loss in an ordinary PyTorch training loop.

Set the environment variable ``SKLIMB_EXAMPLE_EPOCHS`` to train for fewer
epochs (the test suite uses 2).
"""

# %%
# The conventions on a tiny batch
# -------------------------------
# Class weights (``weight``) and per-example weights (``sample_weight``) give
# example ``i`` the weight ``w_i = weight[y_i] * sample_weight_i``, and the
# default ``reduction="mean"`` is the weighted mean ``sum(w_i l_i) / sum(w_i)``.
# ``reduction="none"`` returns the weighted terms ``w_i l_i``.
import os

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import balanced_accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from torch import nn

from sklimb.datasets import load_long_tailed_digits
from sklimb.losses import (
    ClassBalancedLoss,
    CrossEntropyLoss,
    DiceLoss,
    FocalLoss,
    GHMCLoss,
    LDAMLoss,
    LogitAdjustedLoss,
    class_balanced_loss,
    focal_loss,
    logit_adjusted_loss,
)

EPOCHS = int(os.environ.get("SKLIMB_EXAMPLE_EPOCHS", "30"))

logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 0.0, 3.0], [1.0, 1.0, 1.0]])
target = torch.tensor([0, 1, 2, 2])
weight = torch.tensor([1.0, 2.0, 4.0])
sample_weight = torch.tensor([1.0, 1.0, 0.5, 1.0])

terms = focal_loss(logits, target, gamma=2.0, weight=weight, sample_weight=sample_weight,
                   reduction="none")
w = weight[target] * sample_weight
mean = focal_loss(logits, target, gamma=2.0, weight=weight, sample_weight=sample_weight)
print("weighted terms:", terms)
print(f"mean = {float(mean):.4f} = sum(terms) / sum(w) = {float(terms.sum() / w.sum()):.4f}")

# %%
# Limit cases: each loss reduces to cross-entropy when its imbalance
# correction is switched off. The focal loss with ``gamma=0``, the
# class-balanced loss with ``beta=0`` (uniform weights) and logit adjustment
# with ``tau=0`` all give the value of PyTorch's cross-entropy.
counts = [50, 10, 2]
ce = F.cross_entropy(logits, target)
print(f"cross-entropy        {float(ce):.6f}")
print(f"focal, gamma=0       {float(focal_loss(logits, target, gamma=0.0)):.6f}")
print(f"class-balanced, b=0  "
      f"{float(class_balanced_loss(logits, target, class_counts=counts, beta=0.0)):.6f}")
print(f"logit adj., tau=0    "
      f"{float(logit_adjusted_loss(logits, target, class_counts=counts, tau=0.0)):.6f}")

# %%
# The module forms keep their per-class tensors (class weights, effective
# number weights, margins, log priors) as registered buffers, so they move
# with ``loss.to(device)`` and are saved in ``state_dict()``.
print({name: buffer.tolist() for name, buffer in LDAMLoss(class_counts=counts).named_buffers()})

# %%
# Data for training
# -----------------
# Long-tailed digits (imbalance ratio 50: 174 images of digit 0, 3 of digit
# 9), split into stratified training and test sets and standardised with
# statistics of the training set. The count-based losses need the number of
# training samples of each class: the counts of the whole training set, not
# of one mini-batch.
X, y = load_long_tailed_digits(imbalance_ratio=50, return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)
mean_, scale_ = X_train.mean(axis=0), X_train.std(axis=0) + 1e-6
X_train = torch.as_tensor((X_train - mean_) / scale_, dtype=torch.float32)
X_test = torch.as_tensor((X_test - mean_) / scale_, dtype=torch.float32)
y_train = torch.as_tensor(y_train)
n_classes = 10
class_counts = np.bincount(y_train.numpy(), minlength=n_classes)
print("training samples per digit:", class_counts.tolist())

# %%
# The losses
# ----------
# One instance of each, built from the training counts where needed.
balanced = class_counts.sum() / (n_classes * class_counts)
losses = {
    "cross-entropy": CrossEntropyLoss(),
    "weighted cross-entropy": CrossEntropyLoss(weight=balanced),
    "focal (gamma=2)": FocalLoss(gamma=2.0),
    "class-balanced focal": ClassBalancedLoss(class_counts, beta=0.999, base="focal"),
    "class-balanced sigmoid": ClassBalancedLoss(class_counts, beta=0.999, base="sigmoid"),
    "LDAM (max_margin=1)": LDAMLoss(class_counts, max_margin=1.0),
    "logit adjusted (tau=1)": LogitAdjustedLoss(class_counts, tau=1.0),
    "GHM-C": GHMCLoss(bins=10, momentum=0.75),
    "dice": DiceLoss(),
}

# %%
# A plain training loop
# ---------------------
# Nothing here is specific to sklimb except the loss. A network this small
# trains fastest on a single thread, which is also what the estimator uses by
# default (``n_threads=1``). ``loss_fn.train()`` and
# ``loss_fn.eval()`` matter for GHM-C only: its running density of gradient
# norms is updated in training mode and left alone in evaluation mode. At test
# time every model predicts with the softmax of its plain logits; the margins
# of LDAM and the priors of logit adjustment are used during training only.


torch.set_num_threads(1)


def train(loss_fn, epochs, batch_size=64, seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(X_train.shape[1], 64), nn.ReLU(), nn.Linear(64, n_classes))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    loss_fn.train()
    for _ in range(epochs):
        order = torch.randperm(len(X_train))
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(X_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
    model.eval()
    loss_fn.eval()
    return model


print(f"{'loss':<24} {'macro F1':>9} {'balanced acc':>13} {'final train loss':>17}")
for name, loss_fn in losses.items():
    model = train(loss_fn, EPOCHS)
    with torch.no_grad():
        y_pred = model(X_test).argmax(dim=1).numpy()
        train_loss = float(loss_fn(model(X_train), y_train))
    print(f"{name:<24} {f1_score(y_test, y_pred, average='macro', zero_division=0):9.3f} "
          f"{balanced_accuracy_score(y_test, y_pred):13.3f} {train_loss:17.4f}")

# %%
# The test set holds only one image of the rarest digit, so one prediction
# moves macro F1 by several hundredths: read the table as a demonstration of
# the interface, not as a benchmark. Loss values are not comparable across
# rows, since each loss has its own scale.
#
# The same losses drive :class:`~sklimb.ImbalancedNetClassifier` through
# ``loss="focal"``, ``loss__gamma=2.0`` and so on; the estimator fills in the
# class counts from the labels it is fitted on.
