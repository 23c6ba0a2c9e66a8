"""Callbacks the estimator adds itself (:func:`default_callbacks`): the epoch log, a
divergence guard, validation scoring and deferred re-weighting; the schedule and the weight
average are in :mod:`sklimb._schedules`."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import torch
from sklearn.metrics import get_scorer
from skorch.callbacks import Callback, EarlyStopping, EpochTimer, PassthroughScoring, PrintLog

from ._schedules import LRSchedule, WeightAveraging
from ._scoring import score_predictions


def default_callbacks(net):
    """The estimator's callbacks, from its parameters, as ``(name, callback)`` pairs.

    Always: the epoch timer, the training and validation losses,
    :class:`TrainingGuard` and :class:`EpochLog`; with their parameters: the
    ``lr_schedule`` (:class:`~sklimb._schedules.LRSchedule`), the weight
    average of ``ema_decay`` (not with early stopping, which restores the
    best epoch), deferred re-weighting and early stopping. skorch reads this
    before the parameters are validated, so only exact values switch a
    callback on.
    """
    callbacks = [
        ("epoch_timer", EpochTimer()),
        ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
        ("training_guard", TrainingGuard()),
        ("valid_loss", PassthroughScoring(name="valid_loss")),
    ]
    if isinstance(net.lr_schedule, str) and net.lr_schedule != "constant":
        callbacks.append(("lr_schedule", LRSchedule(net.lr_schedule)))
    if isinstance(net.ema_decay, numbers.Real) and net.early_stopping is not True:
        callbacks.append(("weight_averaging", WeightAveraging(net.ema_decay)))
    start = net.class_weight_start
    if isinstance(start, numbers.Real) and start != 0:
        callbacks.append(("deferred_reweighting", DeferredReweighting(start)))
    if net.early_stopping is True:
        callbacks += [
            ("valid_score", ValidationScore(net.scoring)),
            ("early_stopping", EarlyStopping(monitor="valid_score", lower_is_better=False,
                                             patience=net.n_iter_no_change, load_best=True)),
        ]
    return [*callbacks, ("print_log", EpochLog())]


#: an epoch's mean training loss this many times the first batch's counts as diverging
DIVERGENCE_FACTOR = 100.0


class EpochLog(PrintLog):
    """skorch's ``PrintLog``, which skips building its table when nothing would print it.

    ``PrintLog`` formats the epoch's table (with ``tabulate``) even at
    ``verbose=0``: about a tenth of the fit time of a small network trained for
    many short epochs (300 x 8, 200 epochs of 2 batches, under cProfile). A
    custom ``sink`` always gets the table, as in skorch.

    A long fit's total is not in skorch's table; with ``verbose`` the log
    first says how many epochs of how many batches the call will train.
    """

    def on_train_begin(self, net, X=None, **kwargs):
        super().on_train_begin(net, X=X, **kwargs)
        train = getattr(X, "train", None)
        if not net.verbose or train is None:
            return
        batches = net.get_iterator(train, training=True)
        self._sink(f"Training {net.max_epochs_} epochs of {len(batches)} batches "
                   f"({batches.batch_size} rows each, {batches.n_rows()} rows per epoch).",
                   net.verbose)

    def on_epoch_end(self, net, **kwargs):
        if self.sink is print and not net.verbose:
            return
        super().on_epoch_end(net, **kwargs)


class TrainingGuard(Callback):
    """Stop a diverged fit with a clear error; warn once when the loss grows a lot.

    After every epoch, a non-finite ``train_loss`` raises a ``FloatingPointError``,
    and a mean loss more than :data:`DIVERGENCE_FACTOR` times the loss of the
    first batch of this ``fit`` call gives a ``RuntimeWarning``. Place it after
    the callback that records ``train_loss``.
    """

    def on_train_begin(self, net, **kwargs):
        self.first_epoch_ = len(net.history)
        self.warned_ = False

    def on_epoch_end(self, net, **kwargs):
        loss = net.history[-1].get("train_loss")
        if loss is None:
            return
        epoch = len(net.history)
        if not np.isfinite(loss):
            raise FloatingPointError(
                f"training diverged: the loss became {loss} in epoch {epoch}. Lower the "
                f"learning rate (lr={net.lr}), scale the features (input_transform='standard' "
                "or a StandardScaler) or check the loss hyperparameters."
            )
        first = net.history[self.first_epoch_]["batches"][0]["train_loss"]
        if not self.warned_ and loss > DIVERGENCE_FACTOR * max(first, 1e-3):
            warnings.warn(
                f"training is diverging: the loss grew from {first:.3g} on the first batch "
                f"to a mean of {loss:.3g} in epoch {epoch}. Lower the learning rate "
                f"(lr={net.lr}) or scale the features.", RuntimeWarning, stacklevel=2)
            self.warned_ = True


class ValidationScore(Callback):
    """Score the network on the validation set at the end of every epoch.

    Predictions are made on the encoded labels directly (no input validation)
    and scored with ``sklearn.metrics.get_scorer(scoring)``; the score is
    recorded in the history as ``valid_score`` (greater is better).
    """

    def __init__(self, scoring="balanced_accuracy"):
        self.scoring = scoring

    def initialize(self):
        get_scorer(self.scoring)  # fail early on an unknown name
        return self

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        if dataset_valid is None:
            return
        proba = torch.softmax(net.forward_logits(dataset_valid.X).double(), dim=1).cpu().numpy()
        y_true = dataset_valid.y.cpu().numpy()
        try:
            score = score_predictions(self.scoring, y_true, np.arange(proba.shape[1]),
                                      proba=proba)
        except ValueError as exc:
            raise ValueError(
                f"early stopping could not compute scoring={self.scoring!r} on the "
                f"validation split ({len(np.unique(y_true))} of {proba.shape[1]} classes "
                f"present): {exc}. Use a label-based scorer such as 'balanced_accuracy' "
                "or a larger validation_fraction."
            ) from exc
        net.history.record("valid_score", float(score))


def unweighted_epochs(start, max_epochs):
    """Epochs trained without class weights under deferred re-weighting.

    An int ``start`` is that number of epochs; a float in [0, 1) is the
    fraction ``floor(start * max_epochs)`` of ``max_epochs``.
    """
    if isinstance(start, numbers.Integral):
        return int(start)
    return int(np.floor(start * max_epochs + 1e-9))


class DeferredReweighting(Callback):
    """Deferred re-weighting (DRW, Cao et al. 2019) of the loss's class weights.

    At the start of every epoch the criterion's ``weight`` is set to ``None``
    for the first :func:`unweighted_epochs` epochs and to the estimator's
    ``class_weight_`` afterwards. Epochs are counted over the whole history
    (``partial_fit`` and ``warm_start`` continue the count). Whether an epoch
    was weighted is recorded in the history as ``class_weighted``.
    """

    def __init__(self, start=0.0):
        self.start = start

    def on_train_begin(self, net, **kwargs):
        if getattr(net, "class_weight_", None) is not None and not hasattr(
                net.criterion_, "weight"):
            raise ValueError(
                f"class_weight_start needs a loss that keeps its class weights in a 'weight' "
                f"attribute; {type(net.criterion_).__name__} does not."
            )

    def on_epoch_begin(self, net, **kwargs):
        class_weight = getattr(net, "class_weight_", None)
        weighted = class_weight is not None and (
            len(net.history) > unweighted_epochs(self.start, net.max_epochs_))
        if class_weight is not None:
            net.criterion_.weight = (
                torch.as_tensor(class_weight, dtype=torch.float32, device=net.device or "cpu")
                if weighted else None)
        net.history.record("class_weighted", bool(weighted))
