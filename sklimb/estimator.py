"""``ImbalancedNetClassifier``: a skorch classifier whose ``loss=`` picks an imbalance loss.

The estimator keeps to skorch's training step (``train_step`` ->
``train_step_single`` -> ``get_loss``) and its callbacks; its parts live in
their own modules: the loss set-up in ``_criterion``, the inputs in
``_inputs``, the in-memory batches in ``_batches``, per-epoch resampling in
:mod:`sklimb.resampling`, the schedule and weight average in ``_schedules``,
prior correction and temperature in ``_calibration``, and ``decision=`` in
:mod:`sklimb.decision`.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import clone
from sklearn.metrics import get_scorer_names
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetClassifier

from . import _calibration, _inputs
from ._batches import as_tensor, fit_data
from ._callbacks import default_callbacks
from ._criterion import check_sample_weight_support, class_weight_mode, loss_arguments
from ._labels import encode_labels, fit_labels
from ._runtime import check_device, flushed_subnormals, seeded, torch_threads
from ._schedules import LR_SCHEDULES, auto_batch_size, auto_epochs, optimizer_arguments
from ._signatures import fill_in
from ._skorch_steps import InMemoryTraining, StopTraining
from ._weights import class_weights
from .decision import apply_offsets, balanced_offsets, tune_decision
from .losses import LOSSES
from .modules import MODULES, get_module
from .modules._members import check_module_output, combine_members, flatten_members
from .preprocessing import INPUT_TRANSFORMS
from .resampling import SAMPLERS

_PREDICT_CHUNK = 4096
#: folds of ``decision`` tuned out of fold with ``decision_cv="auto"``
DEFAULT_DECISION_CV = 5


class ImbalancedNetClassifier(InMemoryTraining, NeuralNetClassifier):
    """Neural network classifier for imbalanced data with a choice of loss.

    A skorch :class:`~skorch.NeuralNetClassifier` that follows scikit-learn's
    conventions exactly (any labels, ``classes_``, ``predict_proba``,
    ``clone``, pickling, pipelines) and trains with one of the losses of
    :mod:`sklimb.losses`. Loss hyperparameters are set as ``loss__<name>``,
    network hyperparameters as ``module__<name>``, so ``GridSearchCV`` can
    search both. Class weights and class counts come from the ``y`` that
    ``fit`` receives (in a pipeline: the resampled labels; in cross-validation:
    each training fold's). Training runs through skorch's ``train_step``, so
    any ``torch.optim`` optimiser (LBFGS included), callbacks and subclass
    overrides of ``train_step_single`` or ``get_loss`` work. The user guide,
    ``docs/estimator.md``, has the details of every parameter.

    Parameters
    ----------
    module : str, torch.nn.Module class or instance, default="mlp"
        ``"mlp"`` (:class:`~sklimb.modules.MLP`), ``"ensemble_mlp"``
        (:class:`~sklimb.modules.EnsembleMLP`, TabM-mini) or your module,
        returning logits ``(n_samples, n_classes)`` or, for ``k`` ensemble
        members, ``(n_samples, k, n_classes)``. Constructor parameters
        ``n_features`` and ``n_classes`` are filled in from the data.
    loss : str or torch.nn.Module class, default="ce"
        ``"ce"``, ``"focal"``, ``"class_balanced"``, ``"ghm"``, ``"dice"``,
        ``"ldam"``, ``"logit_adjusted"`` or a loss class, called as
        ``loss(**loss_params)(logits, target[, sample_weight=...])``.
    class_weight : "auto", None, "balanced", "sqrt_balanced", "effective_number" or dict, \
default="auto"
        Per-class weights given to the loss as ``weight``: ``"balanced"`` is
        ``n_samples / (n_classes * n_c)``, ``"sqrt_balanced"`` its square
        root, ``"effective_number"`` Cui et al.'s weights with ``beta=0.999``
        (the weighting of ``loss="class_balanced"``), a dict maps labels to
        weights. ``"auto"`` is ``"sqrt_balanced"``, or no weights for losses
        that correct for class frequencies themselves, losses without a
        ``weight``, a given ``loss__weight`` and a per-epoch ``sampler``.
    class_weight_start : int or float, default=0.0
        Deferred re-weighting (Cao et al. 2019): train unweighted for this
        many epochs (an int) or this fraction of ``max_epochs`` (a float in
        ``[0, 1)``), then with ``class_weight_``.
    sampler : {"over", "under", "smote"} or None, default=None
        Resample the training rows afresh every epoch with
        :mod:`sklimb.resampling` (the same samplers as ``sklimb compare``'s
        pipeline steps); validation rows are never resampled.
    sampling_ratio : float, default=1.0
        In ``(0, 1]``: the target size of a class relative to the largest
        (``"over"``, ``"smote"``) or the smallest divided by it (``"under"``).
    prior_correction : bool, default=False
        ``predict_proba`` undoes the class shift that weights, resampling or
        logit adjustment introduced (:meth:`training_log_shift`).
    temperature_scaling : bool, default=False
        Fit the logits' temperature ``temperature_`` on a stratified
        ``validation_fraction`` (Guo et al., 2017); ``predict`` is unchanged.
    input_transform : {"standard", "robust", "piecewise_linear"}, transformer or None, \
default="standard"
        Fitted (with the sample weights) on the data ``fit`` receives and
        applied before the network, as ``input_transform_``; see
        :mod:`sklimb.preprocessing`.
    decision : str or None, default=None
        ``None`` predicts the most probable class; a label-based scorer name
        (``"balanced_accuracy"``, ``"f1_macro"``, ...) chooses per-class
        offsets on the log-probabilities. For ``"balanced_accuracy"`` they
        have a closed form, the Bayes rule (the class of largest
        ``p(c | x) / prior_c``) corrected for how training weighted the classes
        (:func:`sklimb.decision.balanced_offsets`; no extra fit); other
        scorers are tuned out of fold (:func:`sklimb.decision.tune_decision`,
        ``decision_cv`` extra fits).
    decision_cv : int or "auto", default="auto"
        Folds for tuning ``decision`` out of fold, ``>= 2``. ``"auto"`` uses
        the closed form for ``"balanced_accuracy"`` and 5 folds otherwise; an
        int tunes every scorer out of fold.
    optimizer : torch optimizer class, default=torch.optim.AdamW
        Options as ``optimizer__<name>``; Adam and AdamW run fused.
    lr : float, default=5e-3
        Learning rate, the peak of ``lr_schedule``.
    lr_schedule : {"constant", "cosine", "flat_cosine"}, default="cosine"
        The rate over each ``fit``'s optimiser steps: constant, cosine decay
        to 0, or flat for the first half then cosine.
    weight_decay : float, default=0.3
        The optimiser's ``weight_decay`` (unless ``optimizer__weight_decay``
        is set or the optimiser has none).
    ema_decay : float or None, default=0.99
        Predict with an exponential moving average of the weights, updated
        after every step; ``None`` (or ``early_stopping``) uses the weights.
    max_epochs : int or "auto", default="auto"
        Epochs to train, ``>= 1``; ``"auto"`` is 200, fewer when that would
        exceed 20,000 optimiser steps or 5,000,000 rows, and at least 10:
        ``clip(min(ceil(20000 / batches_per_epoch), ceil(5e6 / rows_per_epoch)),
        10, 200)``, stored as ``max_epochs_``.
    batch_size : int or "auto", default="auto"
        Mini-batch size; ``-1`` uses the whole training set. ``"auto"`` is 200
        rows up to 4,800 training rows, then about 24 batches per epoch, at
        most 2,048 rows: ``clip(ceil(n_rows / 24), 200, 2048)``, stored as
        ``batch_size_``.
    early_stopping : bool, default=False
        Hold out a stratified ``validation_fraction``, stop after
        ``n_iter_no_change`` epochs without a better ``scoring`` and restore
        the best epoch.
    validation_fraction : float, default=0.1
        Fraction held out for early stopping and temperature scaling.
    n_iter_no_change : int, default=10
        Patience of early stopping, in epochs.
    scoring : str, default="balanced_accuracy"
        Scorer name used for early stopping.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, dropout, shuffling, resampling and the folds
        of ``decision``; the global torch RNG state is restored after ``fit``.
    n_threads : int or None, default=1
        torch threads during ``fit`` and prediction; ``None`` leaves them.
    classes : array-like or None, default=None
        All class labels, if ``y`` may miss some of them.
    **kwargs
        Any other skorch parameter (``callbacks``, ``device``, ``verbose``,
        ``warm_start``, ``iterator_train__shuffle``, ``module__*``,
        ``optimizer__*``, ``loss__*`` ...).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels in the order of the ``predict_proba`` columns.
    class_counts_ : ndarray of shape (n_classes,)
        Training rows of each class (of positive sample weight) in the last ``fit``.
    class_weight_ : ndarray of shape (n_classes,) or None
        The class weights given to the loss.
    class_offsets_ : ndarray of shape (n_classes,) or None
        With ``decision``: the offsets added to the log-probabilities.
    decision_threshold_ : float or None
        With ``decision`` and two classes: the probability of
        ``classes_[1]`` from which it is predicted.
    input_transform_ : transformer or None
        The fitted ``input_transform``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when ``X`` was a DataFrame with string column names.
    n_epochs_ : int
        Epochs trained in total.
    max_epochs_ : int
        The epochs the last ``fit`` / ``partial_fit`` call was allowed.
    batch_size_ : int
        The rows per batch (``batch_size``, resolved by the first ``fit`` or
        ``partial_fit`` call when it is ``"auto"``).
    temperature_ : float
        The logit temperature (1 unless ``temperature_scaling``).

    See Also
    --------
    sklimb.losses : the loss functions and their formulas.
    sklimb.modules : the networks.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklimb import ImbalancedNetClassifier
    >>> X, y = make_classification(n_samples=300, weights=[0.9], random_state=0)
    >>> clf = ImbalancedNetClassifier(loss="focal", loss__gamma=2.0, class_weight="balanced",
    ...                               max_epochs=5, random_state=0)
    >>> clf.fit(X, y).predict(X[:3]).shape
    (3,)
    """

    prefixes_: ClassVar[list] = [*NeuralNetClassifier.prefixes_, "loss"]

    _parameter_constraints: ClassVar[dict] = {
        "module": [StrOptions(set(MODULES)), type, torch.nn.Module, callable],
        "loss": [StrOptions(set(LOSSES)), type, callable],
        "class_weight": [None, StrOptions({"auto", "balanced", "sqrt_balanced",
                                           "effective_number"}), dict],
        "class_weight_start": [Interval(Integral, 0, None, closed="left"),
                               Interval(Real, 0, 1, closed="left")],
        "sampler": [None, StrOptions(set(SAMPLERS))],
        "sampling_ratio": [Interval(Real, 0, 1, closed="right")],
        "prior_correction": ["boolean"],
        "temperature_scaling": ["boolean"],
        "input_transform": [None, StrOptions(set(INPUT_TRANSFORMS)),
                            HasMethods(["fit", "transform"])],
        "decision": [None, StrOptions(set(get_scorer_names()))],
        "decision_cv": [Interval(Integral, 2, None, closed="left"), StrOptions({"auto"})],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions(set(LR_SCHEDULES))],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "ema_decay": [None, Interval(Real, 0, 1, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}),
                       Options(Integral, {-1})],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "scoring": [StrOptions(set(get_scorer_names()))],
        "random_state": ["random_state"],
        "n_threads": [None, Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, module="mlp", *, loss="ce", class_weight="auto",
                 class_weight_start=0.0, sampler=None, sampling_ratio=1.0,
                 prior_correction=False, temperature_scaling=False, input_transform="standard",
                 decision=None, decision_cv="auto", optimizer=torch.optim.AdamW, lr=5e-3,
                 lr_schedule="cosine", weight_decay=0.3, ema_decay=0.99, max_epochs="auto",
                 batch_size="auto",
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=10,
                 scoring="balanced_accuracy", random_state=None, n_threads=1,
                 train_split=None, classes=None, verbose=0, **kwargs):
        super().__init__(module, criterion=torch.nn.Module, optimizer=optimizer, lr=lr,
                         max_epochs=max_epochs, batch_size=batch_size,
                         train_split=train_split, classes=classes, verbose=verbose, **kwargs)
        del self.criterion  # the loss is chosen by ``loss``; see initialize_criterion
        self.loss = loss
        self.class_weight = class_weight
        self.class_weight_start = class_weight_start
        self.sampler = sampler
        self.sampling_ratio = sampling_ratio
        self.prior_correction = prior_correction
        self.temperature_scaling = temperature_scaling
        self.input_transform = input_transform
        self.decision = decision
        self.decision_cv = decision_cv
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.ema_decay = ema_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.scoring = scoring
        self.random_state = random_state
        self.n_threads = n_threads

    # ------------------------------------------------------------------ params
    def _get_param_names(self):
        # skorch reports every attribute without a trailing underscore; its own private
        # bookkeeping (``_params_to_validate``) is not a constructor parameter
        return [name for name in super()._get_param_names() if not name.startswith("_")]

    def set_params(self, **params):
        """Set parameters, including ``loss`` and ``loss__<name>``."""
        loss_params = {key: params.pop(key) for key in list(params)
                       if key == "loss" or key.startswith("loss__")}
        super().set_params(**params)
        for key, value in loss_params.items():
            setattr(self, key, value)
            if key != "loss":
                self._params_to_validate.add(key)
        if loss_params and self.initialized_ and hasattr(self, "class_counts_"):
            self._initialize_criterion(reason="Re-initializing criterion because the loss "
                                              "changed.")
            self._initialize_optimizer()
        return self

    def _validate_hyperparameters(self):
        if isinstance(self.loss, torch.nn.Module):
            raise ValueError(
                f"loss={self.loss!r} is a loss instance; pass the loss class and its "
                "hyperparameters instead (loss=MyLoss, loss__<param>=...), so that clone() "
                "and GridSearchCV can rebuild it."
            )
        validate_parameter_constraints(
            self._parameter_constraints,
            {name: getattr(self, name) for name in self._parameter_constraints},
            caller_name=type(self).__name__,
        )
        check_device(self.device)

    @property
    def _default_callbacks(self):
        return default_callbacks(self)

    # ---------------------------------------------------------- initialisation
    def initialize_module(self):
        module = get_module(self.module)
        kwargs = self.get_params_for("module")
        if not isinstance(module, torch.nn.Module):
            fitted = hasattr(self, "n_module_features_")
            sizes = {"n_features": getattr(self, "n_module_features_", None),
                     "n_classes": len(self.classes_) if fitted else None}
            kwargs = fill_in(module, kwargs, sizes, "module", f"{type(self).__name__} sizes "
                             "the module from the data; call fit() first")
        self.module_ = self.initialized_instance(module, kwargs)
        return self

    def initialize_optimizer(self, triggered_directly=None):
        """skorch's optimizer, with ``weight_decay`` and fused Adam(W) (see
        :func:`sklimb._schedules.optimizer_arguments`)."""
        args, kwargs = self.get_params_for_optimizer("optimizer",
                                                     self.get_all_learnable_params())
        kwargs = optimizer_arguments(self.optimizer, kwargs, self.weight_decay, self.device)
        self.optimizer_ = self.optimizer(*args, **kwargs)
        return self

    def initialize_criterion(self):
        if self.get_params_for("criterion"):
            raise ValueError("set loss hyperparameters as loss__<name> (for example "
                             "loss__gamma=2.0), not criterion__<name>.")
        self._validate_hyperparameters()
        loss_class, kwargs = loss_arguments(
            self.loss, self.get_params_for("loss"), getattr(self, "class_weight_", None),
            getattr(self, "class_counts_", None),
            class_weight_name=f"class_weight={self.class_weight!r}")
        self.criterion_ = loss_class(**kwargs)
        return self

    def __sklearn_is_fitted__(self):
        return hasattr(self, "n_epochs_")

    @property
    def classes_(self):
        try:
            return self.label_encoder_.classes_
        except AttributeError:
            raise AttributeError(f"{type(self).__name__} is not fitted yet; call fit() "
                                 "before using classes_.") from None

    # ----------------------------------------------------------------- fitting
    def fit(self, X, y, sample_weight=None, **fit_params):
        """Fit the network to ``X, y`` (``sample_weight`` optional).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Numeric features without NaN or infinity.
        y : array-like of shape (n_samples,)
            Class labels of any type scikit-learn accepts.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, combined with the class weights; they also
            weight the input transform's statistics, and rows of weight 0 do
            not count in ``class_counts_``.
        **fit_params : dict
            Passed to the module's ``forward``.

        Returns
        -------
        self : ImbalancedNetClassifier
        """
        warm = self.warm_start and self.__sklearn_is_fitted__()
        data = self._prepare_fit(X, y, sample_weight, first_call=not warm)
        if not warm:
            self._choose_decision(X, y, sample_weight, fit_params)
        self._train(data, initialize=not warm, **fit_params)
        if not warm and self._closed_form_decision():
            rule = balanced_offsets(
                self.class_counts_, None if self.prior_correction else self.training_log_shift(),
                self.temperature_)
            self.class_offsets_, self.decision_threshold_ = rule.offsets, rule.threshold
        return self

    def partial_fit(self, X, y, classes=None, sample_weight=None, **fit_params):
        """Train for ``max_epochs`` more epochs on ``X, y`` without re-initialising.

        The first call sets up the classes (from ``classes`` if given, else
        from ``y``), the class weights, class counts and input transform;
        later calls keep them. ``decision`` is tuned by ``fit`` only.
        """
        first = not self.__sklearn_is_fitted__()
        data = self._prepare_fit(X, y, sample_weight, first_call=first, classes=classes)
        if first:
            self.class_offsets_ = self.decision_threshold_ = None
        return self._train(data, initialize=first, **fit_params)

    def _choose_decision(self, X, y, sample_weight, fit_params):
        """Out-of-fold offsets for ``decision``, by :func:`sklimb.decision.tune_decision`."""
        self.class_offsets_ = self.decision_threshold_ = None
        if self.decision is None or self._closed_form_decision():
            return
        inner = clone(self).set_params(decision=None, warm_start=False, classes=self.classes_)
        params = dict(fit_params)
        if sample_weight is not None:
            params["sample_weight"] = np.asarray(sample_weight)
        folds = DEFAULT_DECISION_CV if self.decision_cv == "auto" else self.decision_cv
        rule = tune_decision(inner, X, y, scoring=self.decision, cv=folds,
                             random_state=self._seed() or 0, classes=self.classes_,
                             params=params)
        self.class_offsets_, self.decision_threshold_ = rule.offsets, rule.threshold

    def _closed_form_decision(self):
        """Whether ``decision`` is the closed-form balanced-accuracy rule."""
        return self.decision == "balanced_accuracy" and self.decision_cv == "auto"

    def _train(self, data, initialize, **fit_params):
        seed = self._seed()
        with torch_threads(self.n_threads), flushed_subnormals(), seeded(seed, self.device):
            data.train.generator = (None if seed is None
                                    else torch.Generator().manual_seed(seed))
            if initialize or not self.initialized_:
                self.initialize()
                check_module_output(self.module_, data.train.X[:2], len(self.classes_))
            if data.train.sample_weight is not None:
                check_sample_weight_support(self.criterion_)
            if self.batch_size != "auto":
                self.batch_size_ = self.batch_size
            elif initialize or "batch_size_" not in self.__dict__:
                self.batch_size_ = auto_batch_size(len(data.train))
            self.max_epochs_ = self._resolve_max_epochs(data.train)
            # skorch's partial_fit swallows every KeyboardInterrupt and returns a
            # half-trained network as if training had finished. Here only a callback's
            # request to stop (skorch's convention, used by EarlyStopping) ends training
            # quietly; a KeyboardInterrupt from Ctrl-C stops the caller too.
            self.notify("on_train_begin", X=data, y=None)
            try:
                self.fit_loop(data, None, epochs=self.max_epochs_, **fit_params)
            except StopTraining:
                pass
            self.notify("on_train_end", X=data, y=None)
            self.n_epochs_ = len(self.history)
            self.temperature_ = 1.0
            if self.temperature_scaling:
                self.temperature_ = _calibration.fit_temperature(
                    self._decision_logits(data.valid.X), data.valid.y)
        return self

    def _resolve_max_epochs(self, train):
        """``max_epochs``, or for ``"auto"`` the epochs of :func:`_schedules.auto_epochs`."""
        if self.max_epochs != "auto":
            return int(self.max_epochs)
        batches = self.get_iterator(train, training=True)
        return auto_epochs(len(batches), batches.n_rows())

    def _seed(self):
        if self.random_state is None:
            return None
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _prepare_fit(self, X, y, sample_weight, first_call, classes=None):
        self._validate_hyperparameters()
        if self.train_split is not None:
            raise ValueError(
                f"train_split={self.train_split!r} is not used by {type(self).__name__}: it "
                "takes no internal hold-out unless early_stopping=True, which makes a "
                "stratified split of validation_fraction. Leave train_split=None."
            )
        if first_call:
            for name in ("n_epochs_", "n_features_in_", "feature_names_in_"):
                self.__dict__.pop(name, None)
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target "
                             "y is None.")
        X, y = _inputs.validate_X(self, X, y, reset=first_call)
        check_classification_targets(y)
        sample_weight = _inputs.check_sample_weight(sample_weight, X)
        if first_call:
            self.label_encoder_ = fit_labels(y, self.classes if classes is None else classes)
        y_encoded = encode_labels(self.label_encoder_, y)
        if first_call:
            counted = y_encoded if sample_weight is None else y_encoded[sample_weight > 0]
            self.class_counts_ = np.bincount(counted, minlength=len(self.classes_))
            mode = class_weight_mode(self.class_weight, self.loss, self.sampler,
                                     self.get_params_for("loss"))
            self.class_weight_ = class_weights(mode, self.classes_, self.class_counts_)
            self.input_transform_ = _inputs.fit_input_transform(self.input_transform, X,
                                                                sample_weight)
        X = _inputs.apply_input_transform(self.input_transform_, X)
        if first_call:
            self.n_module_features_ = X.shape[1]
        holdout = self.early_stopping or self.temperature_scaling
        return fit_data(X, y_encoded, sample_weight, self.device or "cpu",
                        self.validation_fraction if holdout else None, self._seed())

    # ------------------------------------------------------------- the loss
    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The loss of a batch; ``y_true`` may be ``(target, sample_weight)``.

        An ensemble's ``(n, k, C)`` logits are trained as ``n * k`` rows (the
        mean of the members' losses) and evaluated as their mean probabilities.
        """
        sample_weight = None
        if isinstance(y_true, (tuple, list)):
            y_true, sample_weight = y_true
        if not training and y_pred.ndim == 3:
            y_pred = combine_members(y_pred)
        elif y_pred.ndim == 3:
            y_pred, y_true, sample_weight = flatten_members(y_pred, y_true, sample_weight)
        if sample_weight is None:
            return self.criterion_(y_pred, y_true)
        return self.criterion_(y_pred, y_true, sample_weight=sample_weight)

    # -------------------------------------------------------------- prediction
    def forward_logits(self, X):
        """Logits of the network for a tensor ``X``, in evaluation mode, in chunks.

        An ensemble's member logits are combined into ``log`` of their mean
        probabilities (see :class:`~sklimb.modules.EnsembleMLP`).
        """
        self._set_training(False)
        size = self.__dict__.get("batch_size_", self.batch_size)
        chunk = max(len(X) if size in (-1, "auto") else size, _PREDICT_CHUNK)
        outputs = []
        with torch.no_grad():
            for start in range(0, len(X), chunk):
                outputs.append(combine_members(self.module_(X[start:start + chunk])))
        return torch.cat(outputs) if outputs else torch.empty(0, len(self.classes_))

    def _decision_logits(self, X):
        """Float64 logits with the prior correction applied if requested."""
        logits = self.forward_logits(X).double()
        if self.prior_correction:
            logits = logits - torch.as_tensor(self.training_log_shift(), device=logits.device)
        return logits

    def predict_proba(self, X):
        """Class probabilities, one column per entry of ``classes_``; rows sum to 1.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        X = _inputs.apply_input_transform(self.input_transform_, _inputs.validate_X(self, X))
        with torch_threads(self.n_threads):
            logits = self._decision_logits(as_tensor(X, self.device or "cpu"))
        return _calibration.probabilities(logits / getattr(self, "temperature_", 1.0),
                                          self.predict_nonlinearity, np.abs(X).max())

    def training_log_shift(self):
        """``log m_c``: how training multiplied each class (see ``prior_correction``).

        The loss's own :meth:`~sklimb.losses.ImbalanceLoss.class_log_shift`
        (for a loss without that method, the class weights the estimator gave
        it, if the last epoch used them) plus the per-epoch ``sampler`` rate;
        see :func:`sklimb._calibration.training_log_shift`.

        Returns
        -------
        log_shift : ndarray of shape (n_classes,)
            Zero for a plain unweighted fit.
        """
        check_is_fitted(self)
        return _calibration.training_log_shift(
            self.criterion_, self.class_counts_, self.class_weight_,
            weighted=self.history[-1].get("class_weighted", True),
            sampler=self.sampler, sampling_ratio=self.sampling_ratio)

    def predict(self, X):
        """Predicted class labels (the original labels of ``y``).

        The class of largest probability, or with ``decision`` the class of
        largest ``log p + class_offsets_``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        if getattr(self, "class_offsets_", None) is not None:
            return apply_offsets(proba, self.class_offsets_, self.classes_)
        return self.classes_[proba.argmax(axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags


__all__ = ["ImbalancedNetClassifier"]
