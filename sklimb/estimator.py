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
from skorch.callbacks import Callback, EarlyStopping, EpochTimer, PassthroughScoring

from . import _calibration, _inputs
from ._batches import ArrayBatches, ArrayDataset, FitData, as_tensor, stratified_holdout
from ._callbacks import DeferredReweighting, EpochLog, TrainingGuard, ValidationScore
from ._criterion import check_sample_weight_support, class_weight_mode, loss_arguments
from ._labels import encode_labels, fit_labels
from ._runtime import check_device, flushed_subnormals, seeded, torch_threads
from ._schedules import LR_SCHEDULES, LRSchedule, WeightAveraging, auto_epochs
from ._signatures import named_parameters
from ._weights import class_weights
from .decision import apply_offsets, tune_decision
from .losses import LOSSES
from .modules import MODULES, get_module
from .modules._members import combine_members, flatten_members
from .preprocessing import INPUT_TRANSFORMS
from .resampling import SAMPLERS

_PREDICT_CHUNK = 4096


class ImbalancedNetClassifier(NeuralNetClassifier):
    """Neural network classifier for imbalanced data with a choice of loss.

    A skorch :class:`~skorch.NeuralNetClassifier` that follows scikit-learn's
    conventions exactly (any labels, ``classes_``, ``predict_proba``,
    ``clone``, pickling, pipelines) and trains with one of the losses of
    :mod:`sklimb.losses`. Loss hyperparameters are set as ``loss__<name>``
    and network hyperparameters as ``module__<name>``, so ``GridSearchCV``
    can search both. Class weights and the class counts that some losses
    need are computed from the ``y`` that ``fit`` receives (inside an
    imbalanced-learn pipeline: the resampled labels; in cross-validation:
    each training fold's labels).

    Parameters
    ----------
    module : str, torch.nn.Module class or instance, default="mlp"
        The network: ``"mlp"`` (:class:`~sklimb.modules.MLP`, by default one
        hidden layer of 100 units), ``"ensemble_mlp"``
        (:class:`~sklimb.modules.EnsembleMLP`, k MLPs sharing their hidden
        layers, TabM-mini) or your own module. It returns logits
        of shape ``(n_samples, n_classes)``, or ``(n_samples, k, n_classes)``
        for an ensemble of ``k`` members: training then averages the
        per-member losses and prediction the member probabilities. If the
        constructor declares a parameter ``n_features`` and/or ``n_classes``
        (positional or keyword-only), it is filled in from the data at fit
        time (``n_features`` counts the columns after ``input_transform``); a
        constructor that only takes ``**kwargs`` receives the ``module__<name>``
        parameters alone.
    loss : str or torch.nn.Module class, default="ce"
        ``"ce"``, ``"focal"``, ``"class_balanced"``, ``"ghm"``, ``"dice"``,
        ``"ldam"``, ``"logit_adjusted"`` or a loss class called as
        ``loss(**loss_params)(logits, target[, sample_weight=...])``.
    class_weight : "auto", None, "balanced", "sqrt_balanced", "effective_number" or dict, \
default="auto"
        Per-class weights given to the loss as its ``weight``; ``"balanced"``
        is ``n_samples / (n_classes * n_c)``, ``"sqrt_balanced"`` its square
        root, ``"effective_number"`` the class-balanced weights of Cui et al.
        with ``beta=0.999``; a dict maps labels to weights. ``"auto"`` is
        ``"sqrt_balanced"``, except that no class weights are added for losses that
        already correct for the class frequencies (``"class_balanced"``,
        ``"logit_adjusted"``, and any loss class with
        ``corrects_class_frequency = True``), for loss classes that take no
        ``weight`` argument, for a loss given ``loss__weight``, and when a
        per-epoch ``sampler`` already balances the batches.
    class_weight_start : int or float, default=0.0
        Deferred re-weighting (DRW, Cao et al. 2019): the loss is trained
        without class weights for the first epochs and with ``class_weight_``
        from then on. An int ``>= 0`` is the number of unweighted epochs; a
        float in ``[0, 1)`` the fraction ``floor(class_weight_start *
        max_epochs)`` of ``max_epochs``. Epochs are counted over the history,
        so ``partial_fit`` and ``warm_start`` continue the count. The history
        key ``class_weighted`` says which epochs used the weights. ``0``
        weights every epoch; without ``class_weight`` it has no effect.
    sampler : {"over", "smote", "under"} or None, default=None
        Resample the training rows afresh in every epoch (validation data
        for early stopping is never resampled). ``"over"`` keeps every row
        and adds rows drawn with replacement until each class has
        ``round(n_max * sampling_ratio)`` rows (larger classes keep their
        size); ``"smote"`` adds as many rows, each a fresh SMOTE interpolation
        between a row and one of its 5 nearest same-class neighbours (on the
        transformed inputs), so the network sees new synthetic rows in every
        epoch instead of one fixed set; ``"under"`` draws, without
        replacement, a new random subset of ``round(n_min / sampling_ratio)``
        rows of each larger class (smaller classes keep their size), so the
        network sees different majority rows
        across epochs. ``n_max``/``n_min`` are the largest/smallest class
        counts of the training rows. The drawn rows are always shuffled and
        keep their sample weights. Unlike resampling in a pipeline, the class
        counts still come from the data ``fit`` receives.
    sampling_ratio : float, default=1.0
        In ``(0, 1]``; the target class size relative to the largest class
        (``"over"``) or the smallest class divided by it (``"under"``); 1
        balances the classes exactly.
    prior_correction : bool, default=False
        Make ``predict_proba`` reflect the class distribution of the data
        ``fit`` received again. Re-weighting, resampling and logit
        adjustment train the network on a shifted class distribution, so its
        probabilities over-state the rare classes; with ``prior_correction``
        the softmax is taken of ``logits - log m`` where ``log m`` is
        :meth:`training_log_shift`: the loss's own shift (its class weights
        in force after the last epoch, focal ``alpha``, class-balanced
        weights, ``-tau log prior`` of logit adjustment; see
        :meth:`~sklimb.losses.ImbalanceLoss.class_log_shift`) plus the
        per-epoch ``sampler`` rate ``resampled size / count``. ``predict`` is
        the argmax of these probabilities. Resampling done by a pipeline step
        before the network is not visible to it and is not corrected.
    temperature_scaling : bool, default=False
        Hold out a stratified ``validation_fraction`` (shared with early
        stopping), and after training divide the logits by the temperature
        ``temperature_`` that minimises the log-loss on it (Guo et al., 2017).
        It changes how confident ``predict_proba`` is, not ``predict``.
    input_transform : {"standard", "robust", "piecewise_linear"}, transformer or None, \
default="standard"
        A transform of ``X`` fitted on the data ``fit`` receives and applied
        before the network, so the features need no scaler of yours:
        ``"standard"`` (:class:`~sklimb.preprocessing.StandardScaleSmoothClip`,
        standardisation with a smooth clip of outliers at 3 standard
        deviations), ``"robust"``
        (:class:`~sklimb.preprocessing.RobustScaleSmoothClip`, the same with
        the median and interquartile range), ``"piecewise_linear"``
        (:class:`~sklimb.preprocessing.PiecewiseLinearEncoder`, the
        piecewise-linear encoding on quantile bins), any scikit-learn
        transformer (cloned), or ``None``. The fitted transform is
        ``input_transform_``.
    decision : str or None, default=None
        ``None`` predicts the class of largest probability. A label-based
        scikit-learn scorer name (``"balanced_accuracy"``, ``"f1_macro"``,
        ...) instead chooses per-class offsets on the log-probabilities that
        maximise it out of fold, as
        :class:`~sklimb.decision.TunedDecisionClassifier` does: ``fit``
        first cross-validates a copy of the estimator (``decision_cv``
        stratified folds, so ``decision_cv`` extra fits), picks the offsets
        on those out-of-fold probabilities, then fits on all the data.
        ``predict`` changes, ``predict_proba`` does not. Inside a resampling
        pipeline the folds are drawn from the resampled data; wrap the whole
        pipeline in ``TunedDecisionClassifier`` to tune on untouched samples.
    decision_cv : int, default=5
        Folds for ``decision``, ``>= 2``.
    optimizer : torch optimizer class, default=torch.optim.AdamW
        Set its options as ``optimizer__<name>``.
    lr : float, default=5e-3
        Learning rate (the peak of ``lr_schedule``).
    lr_schedule : {"constant", "cosine", "flat_cosine"}, default="cosine"
        Learning rate over the optimiser steps of a ``fit``: constant,
        cosine decay from ``lr`` to 0, or ``lr`` for the first half then the
        cosine decay.
    weight_decay : float, default=0.3
        Weight decay given to the optimiser as its ``weight_decay`` (AdamW's
        decoupled decay: every step multiplies the weights by
        ``1 - lr_t * weight_decay``), ``>= 0``. ``optimizer__weight_decay``
        takes precedence; an optimiser without a ``weight_decay`` parameter
        gets none.
    ema_decay : float or None, default=0.99
        Keep an exponential moving average of the weights with this decay in
        ``(0, 1)`` (updated after every optimiser step) and use it for
        prediction after training; ``None`` predicts with the last weights.
        Ignored with ``early_stopping``, which restores the best epoch instead.
    max_epochs : int or "auto", default="auto"
        Number of epochs (the maximum when ``early_stopping=True``), ``>= 1``.
        ``"auto"`` trains 200 epochs, fewer when an epoch has more than 100
        batches, so that a fit takes at most about 20,000 optimiser steps
        (``clip(ceil(20000 / batches_per_epoch), 10, 200)``; the batches of
        a resampled epoch when ``sampler`` is set). Each ``fit`` /
        ``partial_fit`` call resolves it anew; the value used is ``max_epochs_``.
    batch_size : int, default=200
        Mini-batch size; ``-1`` uses the whole training set.
    early_stopping : bool, default=False
        Hold out a stratified ``validation_fraction`` of the data ``fit``
        receives, score it after every epoch with ``scoring``, stop after
        ``n_iter_no_change`` epochs without improvement and restore the best
        epoch. Off by default: no data is held out (a hold-out taken after
        resampling would contain synthetic samples).
    validation_fraction : float, default=0.1
        Fraction held out for early stopping.
    n_iter_no_change : int, default=10
        Patience of early stopping, in epochs.
    scoring : str, default="balanced_accuracy"
        Any scikit-learn scorer name, used for early stopping.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, shuffling and the folds of
        ``decision``. The global torch RNG state is restored after ``fit``.
    n_threads : int or None, default=1
        torch intra-op threads used during ``fit`` and prediction (restored
        afterwards). One thread is fastest for small networks and when several
        fits run in parallel; ``None`` leaves torch's setting alone.
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
        Training samples of each class in the last ``fit``.
    class_weight_ : ndarray of shape (n_classes,) or None
        The class weights given to the loss.
    class_offsets_ : ndarray of shape (n_classes,) or None
        With ``decision``: the offsets added to the log-probabilities.
    decision_threshold_ : float or None
        With ``decision`` and two classes: ``predict`` gives ``classes_[1]``
        when its probability is at least this value.
    input_transform_ : transformer or None
        The fitted ``input_transform``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when ``X`` was a DataFrame with string column names.
    n_epochs_ : int
        Epochs trained (after early stopping, the epochs run in total).
    max_epochs_ : int
        The epochs the last ``fit`` / ``partial_fit`` call was allowed
        (``max_epochs`` with ``"auto"`` resolved).
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
        "decision_cv": [Interval(Integral, 2, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions(set(LR_SCHEDULES))],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "ema_decay": [None, Interval(Real, 0, 1, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left"),
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
                 decision=None, decision_cv=5, optimizer=torch.optim.AdamW, lr=5e-3,
                 lr_schedule="cosine", weight_decay=0.3, ema_decay=0.99, max_epochs="auto",
                 batch_size=200,
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
        # get_params reads this before validation: only exact values switch callbacks on
        callbacks = [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("training_guard", TrainingGuard()),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
        ]
        if isinstance(self.lr_schedule, str) and self.lr_schedule != "constant":
            callbacks.append(("lr_schedule", LRSchedule(self.lr_schedule)))
        if isinstance(self.ema_decay, Real) and self.early_stopping is not True:
            callbacks.append(("weight_averaging", WeightAveraging(self.ema_decay)))
        start = self.class_weight_start
        if isinstance(start, Real) and start != 0:
            callbacks.append(("deferred_reweighting", DeferredReweighting(start)))
        if self.early_stopping is True:
            callbacks += [
                ("valid_score", ValidationScore(self.scoring)),
                ("early_stopping", EarlyStopping(
                    monitor="valid_score", lower_is_better=False,
                    patience=self.n_iter_no_change, load_best=True)),
            ]
        return [*callbacks, ("print_log", EpochLog())]

    # ---------------------------------------------------------- initialisation
    def initialize_module(self):
        module = get_module(self.module)
        kwargs = self.get_params_for("module")
        if not isinstance(module, torch.nn.Module):
            declared = named_parameters(module)
            for name in ("n_features", "n_classes"):
                if name in declared and name not in kwargs:
                    if not hasattr(self, "n_module_features_"):
                        raise ValueError(
                            f"{type(self).__name__} sizes the module from the data; call "
                            f"fit() first, or pass module__{name}."
                        )
                    kwargs[name] = (self.n_module_features_ if name == "n_features"
                                    else len(self.classes_))
        self.module_ = self.initialized_instance(module, kwargs)
        return self

    def initialize_optimizer(self, triggered_directly=None):
        """skorch's optimizer; Adam and AdamW use their fused implementation where it runs.

        The fused kernels update all parameters in one pass instead of a dozen
        small operations per parameter tensor, which on the CPU halves the
        cost of an optimiser step of a small network. An explicit
        ``optimizer__fused`` or ``optimizer__foreach`` is left alone.
        ``weight_decay`` is passed unless ``optimizer__weight_decay`` is set.
        """
        args, kwargs = self.get_params_for_optimizer("optimizer",
                                                     self.get_all_learnable_params())
        if "weight_decay" not in kwargs and "weight_decay" in named_parameters(self.optimizer):
            kwargs["weight_decay"] = self.weight_decay
        if (self.optimizer in (torch.optim.Adam, torch.optim.AdamW)
                and "fused" not in kwargs and "foreach" not in kwargs
                and _fused_optimizer_runs_on(self.device)):
            kwargs["fused"] = True
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
        return self._train(data, initialize=not warm, **fit_params)

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
        if self.decision is None:
            return
        inner = clone(self).set_params(decision=None, warm_start=False, classes=self.classes_)
        params = dict(fit_params)
        if sample_weight is not None:
            params["sample_weight"] = np.asarray(sample_weight)
        rule = tune_decision(inner, X, y, scoring=self.decision, cv=self.decision_cv,
                             random_state=self._seed() or 0, classes=self.classes_,
                             params=params)
        self.class_offsets_, self.decision_threshold_ = rule.offsets, rule.threshold

    def _train(self, data, initialize, **fit_params):
        seed = self._seed()
        with torch_threads(self.n_threads), flushed_subnormals(), seeded(seed, self.device):
            data.train.generator = (None if seed is None
                                    else torch.Generator().manual_seed(seed))
            if initialize or not self.initialized_:
                self.initialize()
                self._check_module_output(data.train.X[:2])
            if data.train.sample_weight is not None:
                check_sample_weight_support(self.criterion_)
            self.max_epochs_ = self._resolve_max_epochs(data.train)
            # skorch's partial_fit swallows every KeyboardInterrupt and returns a
            # half-trained network as if training had finished. Here only a callback's
            # request to stop (skorch's convention, used by EarlyStopping) ends training
            # quietly; a KeyboardInterrupt from Ctrl-C stops the caller too.
            self.notify("on_train_begin", X=data, y=None)
            try:
                self.fit_loop(data, None, epochs=self.max_epochs_, **fit_params)
            except _StopTraining:
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
        return auto_epochs(len(self.get_iterator(train, training=True)))

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
        device = self.device if self.device else "cpu"
        dataset = ArrayDataset(
            as_tensor(X, device), torch.as_tensor(y_encoded, device=device),
            None if sample_weight is None else torch.as_tensor(sample_weight, device=device),
        )
        if not self.early_stopping and not self.temperature_scaling:
            return FitData(dataset, None)
        train, valid = stratified_holdout(y_encoded, self.validation_fraction, self._seed())
        return FitData(dataset.take(train), dataset.take(valid))

    def _check_module_output(self, X_probe):
        """Fail early, with the sizes involved, when the module's output does not fit."""
        self.module_.eval()
        with torch.no_grad():
            output = self.module_(X_probe)
        if isinstance(output, (tuple, list)):
            output = output[0]
        n_classes = len(self.classes_)
        if output.ndim not in (2, 3) or output.shape[-1] != n_classes:
            raise ValueError(
                f"the module returns outputs of shape {tuple(output.shape)} for "
                f"{len(X_probe)} samples, but there are n_classes={n_classes} classes; it "
                "must return logits of shape (n_samples, n_classes), or (n_samples, k, "
                "n_classes) for an ensemble of k members."
            )

    # ------------------------------------------- skorch hooks of the training step
    def notify(self, method_name, **cb_kwargs):
        """skorch's ``notify``, calling only the callbacks that implement ``method_name``.

        A callback that inherits skorch's no-op hook is skipped: per batch,
        that leaves the learning-rate schedule and the weight average. A
        callback raising ``KeyboardInterrupt`` asks to stop training.
        """
        getattr(self, method_name)(self, **cb_kwargs)
        for callback in self._callbacks_with(method_name):
            try:
                getattr(callback, method_name)(self, **cb_kwargs)
            except KeyboardInterrupt as stop:
                raise _StopTraining from stop

    def _set_training(self, training=True):
        """skorch's mode switch, skipped when every module is in that mode already.

        ``train_step_single`` switches the modules to training mode on every
        batch; walking a network's submodules costs about 0.1 ms a step.
        """
        modules = [getattr(self, name + "_") for name in [*self._modules, *self._criteria]]
        if any(isinstance(module, torch.nn.Module) and module.training is not training
               for module in modules):
            super()._set_training(training)

    def _zero_grad_optimizer(self, set_to_none=None):
        """Drop the gradients, as ``zero_grad(set_to_none=True)`` does, without its
        profiler scope (skorch's documented override point; ``False`` zeroes them)."""
        if set_to_none is False:
            super()._zero_grad_optimizer(set_to_none=False)
            return
        for name in self._optimizers:
            for group in getattr(self, name + "_").param_groups:
                for parameter in group["params"]:
                    parameter.grad = None

    def _callbacks_with(self, method_name):
        """The callbacks implementing ``method_name``, found once per ``callbacks_`` list."""
        hooks = self.__dict__.get("callback_hooks_")
        if hooks is None or hooks[0] is not self.callbacks_:
            hooks = self.callback_hooks_ = (self.callbacks_, {})
        if method_name not in hooks[1]:
            hooks[1][method_name] = [callback for _, callback in self.callbacks_
                                     if _implements(callback, method_name)]
        return hooks[1][method_name]

    def check_data(self, X, y=None):
        if not isinstance(X, FitData):
            super().check_data(X, y)

    def get_split_datasets(self, X, y=None, **fit_params):
        if isinstance(X, FitData):
            return X.train, X.valid
        return super().get_split_datasets(X, y, **fit_params)

    def get_iterator(self, dataset, training=False):
        if not isinstance(dataset, ArrayDataset):
            return super().get_iterator(dataset, training=training)
        kwargs = self.get_params_for("iterator_train" if training else "iterator_valid")
        return ArrayBatches(
            dataset, kwargs.get("batch_size", self.batch_size),
            shuffle=training and kwargs.get("shuffle", True),
            generator=getattr(dataset, "generator", None),
            sampler=self.sampler if training else None,
            sampling_ratio=self.sampling_ratio,
        )

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
        chunk = max(self.batch_size if self.batch_size > 0 else len(X), _PREDICT_CHUNK)
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
        logits = logits / getattr(self, "temperature_", 1.0)
        nonlinearity = self.predict_nonlinearity
        if callable(nonlinearity):
            proba = torch.as_tensor(nonlinearity(logits)).double()
        else:
            proba = torch.softmax(logits.double(), dim=1)
        proba = proba.cpu().numpy()
        if not np.isfinite(proba).all():
            bad = int((~np.isfinite(proba).all(axis=1)).sum())
            raise ValueError(
                f"the network's outputs are not finite for {bad} of {len(proba)} rows of X, "
                f"whose features reach {np.abs(X).max():.3g}; scale the features "
                "(input_transform='standard', or a StandardScaler before the network)."
            )
        return proba / proba.sum(axis=1, keepdims=True)

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


class _StopTraining(Exception):
    """A callback asked to stop training (it raised ``KeyboardInterrupt``, as in skorch)."""


def _implements(callback, method_name):
    """Whether ``callback`` defines ``method_name`` itself rather than skorch's no-op."""
    if method_name in vars(callback):
        return True
    return getattr(type(callback), method_name, None) is not getattr(Callback, method_name, 0)


def _fused_optimizer_runs_on(device):
    """Whether torch's fused Adam/AdamW kernels exist for ``device`` (CPU or CUDA)."""
    kind = torch.device(device or "cpu").type
    return kind == "cpu" or (kind == "cuda" and torch.cuda.is_available())


__all__ = ["ImbalancedNetClassifier"]
