"""``ImbalancedNetClassifier``: a skorch classifier whose ``loss=`` picks an imbalance loss."""

from __future__ import annotations

import inspect
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
from skorch import NeuralNetClassifier
from skorch.callbacks import EarlyStopping, EpochTimer, PassthroughScoring, PrintLog

from ._training import (
    ArrayBatches,
    ArrayDataset,
    ValidationScore,
    resampled_sizes,
    seeded,
    stratified_holdout,
    torch_threads,
)
from ._weights import DeferredReweighting, class_weights
from .losses import LOSSES, LogitAdjustedLoss, get_loss
from .modules import MLP

_PREDICT_CHUNK = 4096

#: ``max_epochs="auto"``: about this many optimiser steps, within the epoch bounds below.
AUTO_STEPS = 2000
AUTO_MIN_EPOCHS = 10
AUTO_MAX_EPOCHS = 500


class _FitData:
    """Training and validation datasets prepared by ``fit``, handed through skorch."""

    def __init__(self, train, valid):
        self.train = train
        self.valid = valid

    def __len__(self):
        return len(self.train)


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
    module : torch.nn.Module class or instance, default=MLP
        The network; it must return logits of shape ``(n_samples, n_classes)``.
        If its constructor takes ``n_features`` and/or ``n_classes`` they are
        filled in from the data at fit time (the default :class:`~sklimb.modules.MLP`
        does), other arguments come from ``module__<name>``.
    loss : str or torch.nn.Module class, default="ce"
        ``"ce"``, ``"focal"``, ``"class_balanced"``, ``"ghm"``, ``"dice"``,
        ``"ldam"``, ``"logit_adjusted"`` or a loss class called as
        ``loss(**loss_params)(logits, target[, sample_weight=...])``.
    class_weight : "auto", None, "balanced", "effective_number" or dict, default="auto"
        Per-class weights given to the loss as its ``weight``; ``"balanced"``
        is ``n_samples / (n_classes * n_c)``, ``"effective_number"`` the
        class-balanced weights of Cui et al. with ``beta=0.999``; a dict maps
        labels to weights. ``"auto"`` is ``"balanced"`` for every loss except
        those that already correct for the class frequencies themselves
        (``"class_balanced"``, ``"logit_adjusted"``, and any loss class with
        ``corrects_class_frequency = True``), which get no extra weights, as
        do loss classes without a named ``weight`` argument and a loss given
        ``loss__weight``.
    class_weight_start : int or float, default=0.0
        Deferred re-weighting (DRW, Cao et al. 2019): the loss is trained
        without class weights for the first epochs and with ``class_weight_``
        from then on. An int ``>= 0`` is the number of unweighted epochs; a
        float in ``[0, 1)`` the fraction ``floor(class_weight_start *
        max_epochs)`` of ``max_epochs``. Epochs are counted over the history,
        so ``partial_fit`` and ``warm_start`` continue the count. The history
        key ``class_weighted`` says which epochs used the weights. ``0``
        weights every epoch; without ``class_weight`` it has no effect.
    sampler : {"over", "under"} or None, default=None
        Resample the training rows afresh in every epoch (validation data
        for early stopping is never resampled). ``"over"`` keeps every row
        and adds rows drawn with replacement until each class has
        ``round(n_max * sampling_ratio)`` rows (larger classes keep their
        size); ``"under"`` draws, without replacement, a new random subset of
        ``round(n_min / sampling_ratio)`` rows of each larger class (smaller
        classes keep their size), so the network sees different majority rows
        across epochs. ``n_max``/``n_min`` are the largest/smallest class
        counts of the training rows. The drawn rows are always shuffled and
        keep their sample weights. Unlike resampling in a pipeline, the class
        counts and class weights still come from the data ``fit`` receives.
    prior_correction : bool, default=False
        Make ``predict_proba`` reflect the class distribution of the data
        ``fit`` received again. Re-weighting, resampling and logit
        adjustment train the network on a shifted class distribution, so its
        probabilities over-state the rare classes; with ``prior_correction``
        the softmax is taken of ``logits - log m`` where ``m_c`` is the factor
        by which training multiplied class ``c``: its ``class_weight_`` (when
        the last epoch was weighted), the per-epoch ``sampler`` rate
        ``resampled size / count``, the class-balanced loss's weights, focal
        ``alpha``, and ``pi_c ** -tau`` of logit adjustment. ``predict`` is the
        argmax of these probabilities, so decisions move back towards the
        frequent classes. Resampling done by a pipeline step before the
        network is not visible to it and is not corrected.
    temperature_scaling : bool, default=False
        Hold out a stratified ``validation_fraction`` (shared with early
        stopping), and after training divide the logits by the temperature
        ``temperature_`` that minimises the log-loss on it (Guo et al., 2017).
        It changes how confident ``predict_proba`` is, not ``predict``.
    sampling_ratio : float, default=1.0
        In ``(0, 1]``; the target class size relative to the largest class
        (``"over"``) or the smallest class divided by it (``"under"``); 1
        balances the classes exactly.
    optimizer : torch optimizer class, default=torch.optim.AdamW
        Set its options as ``optimizer__<name>``.
    lr : float, default=1e-3
        Learning rate.
    max_epochs : int or "auto", default="auto"
        Number of epochs (the maximum when ``early_stopping=True``).
        ``"auto"`` sizes training in optimiser steps rather than epochs, so
        that small data sets are not under-trained and large ones do not take
        needlessly long: ``clip(ceil(2000 / batches_per_epoch), 10, 500)``
        epochs, where ``batches_per_epoch`` counts the batches of a resampled
        epoch when ``sampler`` is set. Each ``fit`` / ``partial_fit`` call
        resolves it anew; the value used is ``max_epochs_``.
    batch_size : int, default=128
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
        Seeds weight initialisation, dropout and shuffling. The global torch
        RNG state is restored after ``fit``.
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

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklimb import ImbalancedNetClassifier
    >>> X, y = make_classification(n_samples=300, weights=[0.9], random_state=0)
    >>> clf = ImbalancedNetClassifier(loss="focal", loss__gamma=2.0, class_weight="balanced",
    ...                               max_epochs=5, random_state=0)
    >>> clf.fit(X.astype("float32"), y).predict(X[:3]).shape
    (3,)
    """

    prefixes_: ClassVar[list] = [*NeuralNetClassifier.prefixes_, "loss"]

    _parameter_constraints: ClassVar[dict] = {
        "loss": [StrOptions(set(LOSSES)), type, callable],
        "class_weight": [None, StrOptions({"auto", "balanced", "effective_number"}), dict],
        "class_weight_start": [Interval(Integral, 0, None, closed="left"),
                               Interval(Real, 0, 1, closed="left")],
        "sampler": [None, StrOptions({"over", "under"})],
        "sampling_ratio": [Interval(Real, 0, 1, closed="right")],
        "prior_correction": ["boolean"],
        "temperature_scaling": ["boolean"],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left"),
                       Options(Integral, {-1})],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "scoring": [str],
        "random_state": ["random_state"],
        "n_threads": [None, Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, module=MLP, *, loss="ce", class_weight="auto", class_weight_start=0.0,
                 sampler=None, sampling_ratio=1.0, prior_correction=False,
                 temperature_scaling=False,
                 optimizer=torch.optim.AdamW, lr=1e-3,
                 max_epochs="auto", batch_size=128,
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
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.scoring = scoring
        self.random_state = random_state
        self.n_threads = n_threads

    # ------------------------------------------------------------------ params
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
        validate_parameter_constraints(
            self._parameter_constraints,
            {name: getattr(self, name) for name in self._parameter_constraints},
            caller_name=type(self).__name__,
        )

    @property
    def _default_callbacks(self):
        callbacks = [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
        ]
        start = self.class_weight_start  # get_params reads this before validation
        if isinstance(start, Real) and start != 0:
            callbacks.append(("deferred_reweighting",
                              DeferredReweighting(start)))
        if self.early_stopping is True:  # get_params reads this before validation
            callbacks += [
                ("valid_score", ValidationScore(self.scoring)),
                ("early_stopping", EarlyStopping(
                    monitor="valid_score", lower_is_better=False,
                    patience=self.n_iter_no_change, load_best=True)),
            ]
        return [*callbacks, ("print_log", PrintLog())]

    # ---------------------------------------------------------- initialisation
    def initialize_module(self):
        kwargs = self.get_params_for("module")
        if not isinstance(self.module, torch.nn.Module):
            accepted = _init_parameters(self.module)
            for name, value in (("n_features", "n_features_in_"), ("n_classes", "classes_")):
                if name in accepted and name not in kwargs:
                    if not hasattr(self, value):
                        raise ValueError(
                            f"{type(self).__name__} sizes the module from the data; call "
                            f"fit() first, or pass module__{name}."
                        )
                    kwargs[name] = (self.n_features_in_ if name == "n_features"
                                    else len(self.classes_))
        self.module_ = self.initialized_instance(self.module, kwargs)
        return self

    def initialize_criterion(self):
        if self.get_params_for("criterion"):
            raise ValueError("set loss hyperparameters as loss__<name> (for example "
                             "loss__gamma=2.0), not criterion__<name>.")
        if isinstance(self.loss, torch.nn.Module):
            raise ValueError("pass the loss class, not an instance (loss=MyLoss, "
                             "loss__<param>=...), so that clone() and GridSearchCV can "
                             "rebuild it.")
        loss_class = get_loss(self.loss)
        kwargs = self.get_params_for("loss")
        accepted = _init_parameters(loss_class)
        if accepted is not None:
            unknown = sorted(set(kwargs) - accepted)
            if unknown:
                valid = ", ".join(f"loss__{name}" for name in sorted(accepted - {
                    "weight", "class_counts", "reduction"})) or "none"
                raise ValueError(
                    f"unknown loss parameter(s) {', '.join('loss__' + n for n in unknown)} "
                    f"for loss={self.loss!r} ({loss_class.__name__}); valid: {valid}."
                )
        weight = getattr(self, "class_weight_", None)
        if weight is not None:
            if accepted is not None and "weight" not in accepted:
                raise ValueError(f"class_weight={self.class_weight!r} needs a loss that accepts "
                                 f"a 'weight' argument; {loss_class.__name__} does not.")
            if "weight" in kwargs:
                raise ValueError("give class weights either as class_weight or as "
                                 "loss__weight, not both.")
            kwargs["weight"] = torch.as_tensor(weight, dtype=torch.float32)
        needs_counts = getattr(loss_class, "requires_class_counts", False) or (
            accepted is not None and "class_counts" in accepted)
        if needs_counts and "class_counts" not in kwargs:
            if not hasattr(self, "class_counts_"):
                raise ValueError(f"{loss_class.__name__} needs the training class counts; "
                                 "call fit() first.")
            kwargs["class_counts"] = self.class_counts_
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
            Non-negative weights, combined with the class weights.
        **fit_params : dict
            Passed to the module's ``forward``.

        Returns
        -------
        self : ImbalancedNetClassifier
        """
        warm = self.warm_start and self.__sklearn_is_fitted__()
        data = self._prepare_fit(X, y, sample_weight, first_call=not warm)
        return self._train(data, initialize=not warm, **fit_params)

    def partial_fit(self, X, y, classes=None, sample_weight=None, **fit_params):
        """Train for ``max_epochs`` more epochs on ``X, y`` without re-initialising.

        The first call sets up the classes (from ``classes`` if given, else
        from ``y``), the class weights and class counts; later calls keep them.
        """
        first = not self.__sklearn_is_fitted__()
        data = self._prepare_fit(X, y, sample_weight, first_call=first, classes=classes)
        return self._train(data, initialize=first, **fit_params)

    def _train(self, data, initialize, **fit_params):
        seed = self._seed()
        with torch_threads(self.n_threads), seeded(seed, self.device):
            data.train.generator = (None if seed is None
                                    else torch.Generator().manual_seed(seed))
            if initialize or not self.initialized_:
                self.initialize()
            self._check_sample_weight_support(data.train)
            self.max_epochs_ = self._resolve_max_epochs(data.train)
            super().partial_fit(data, None, epochs=self.max_epochs_, **fit_params)
            self.n_epochs_ = len(self.history)
            self.temperature_ = (self._fit_temperature(data.valid) if self.temperature_scaling
                                 else 1.0)
        return self

    def _class_weight_mode(self):
        """``class_weight`` with ``"auto"`` resolved for the chosen loss."""
        if self.class_weight != "auto":
            return self.class_weight
        loss_class = get_loss(self.loss)
        accepted = _init_parameters(loss_class)
        takes_weight = accepted is not None and "weight" in accepted
        if (getattr(loss_class, "corrects_class_frequency", False) or not takes_weight
                or "weight" in self.get_params_for("loss")):
            return None
        return "balanced"

    def _resolve_max_epochs(self, train):
        """``max_epochs``, or for ``"auto"`` the epochs that give about ``AUTO_STEPS`` updates."""
        if self.max_epochs != "auto":
            return int(self.max_epochs)
        steps_per_epoch = max(len(self.get_iterator(train, training=True)), 1)
        epochs = -(-AUTO_STEPS // steps_per_epoch)  # ceil
        return int(np.clip(epochs, AUTO_MIN_EPOCHS, AUTO_MAX_EPOCHS))

    def _fit_temperature(self, valid):
        """The temperature minimising the validation log-loss (Guo et al., 2017)."""
        logits = self._decision_logits(valid.X)
        target = valid.y.to(logits.device)

        def nll(log_t):
            return float(torch.nn.functional.cross_entropy(logits / np.exp(log_t), target))

        result = minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded")
        return float(np.exp(result.x))

    def _decision_logits(self, X):
        """Float64 logits with the prior correction applied if requested."""
        logits = self.forward_logits(X).double()
        if self.prior_correction:
            logits = logits - torch.as_tensor(self.training_log_shift(), device=logits.device)
        return logits

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
        X, y = self._validate_X(X, y, reset=first_call)
        check_classification_targets(y)
        if first_call:
            self.label_encoder_ = _fit_labels(y, self.classes if classes is None else classes)
        y_encoded = _encode(self.label_encoder_, y)
        n_classes = len(self.classes_)
        if first_call:
            self.class_counts_ = np.bincount(y_encoded, minlength=n_classes)
            self.class_weight_ = class_weights(self._class_weight_mode(), self.classes_,
                                               self.class_counts_)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float32,
                                                 ensure_non_negative=True)
            if not sample_weight.any():
                raise ValueError("sample_weight is zero for every sample; at least one "
                                 "sample needs a positive weight.")
        device = self.device if self.device else "cpu"
        dataset = ArrayDataset(
            _as_tensor(X, device), torch.as_tensor(y_encoded, device=device),
            None if sample_weight is None else torch.as_tensor(sample_weight, device=device),
        )
        if not self.early_stopping and not self.temperature_scaling:
            return _FitData(dataset, None)
        train, valid = stratified_holdout(y_encoded, self.validation_fraction, self._seed())
        return _FitData(_subset(dataset, train), _subset(dataset, valid))

    def _validate_X(self, X, y=None, reset=False):
        kwargs = dict(reset=reset, dtype=np.float32, allow_nd=True, ensure_all_finite=True)
        try:
            if y is None:
                return validate_data(self, X, **kwargs)
            return validate_data(self, X, y, ensure_min_samples=2, **kwargs)
        except ValueError as exc:
            if "could not convert" in str(exc):
                raise ValueError(
                    f"X must contain only numbers; {exc}. Encode categorical or text columns "
                    "first, for example with sklearn.preprocessing.OneHotEncoder inside a "
                    "ColumnTransformer."
                ) from exc
            raise

    def _check_sample_weight_support(self, dataset):
        if dataset.sample_weight is None:
            return
        forward = getattr(self.criterion_, "forward", self.criterion_)
        try:
            parameters = inspect.signature(forward).parameters
        except (TypeError, ValueError):
            return
        if "sample_weight" not in parameters and not any(
                p.kind is p.VAR_KEYWORD for p in parameters.values()):
            raise ValueError(
                f"sample_weight was given but the loss {type(self.criterion_).__name__} does "
                "not accept a sample_weight argument in forward(); use one of the sklimb "
                "losses or add the argument."
            )

    # skorch hooks: route the prepared tensors around skorch's Dataset/DataLoader
    def check_data(self, X, y=None):
        if not isinstance(X, _FitData):
            super().check_data(X, y)

    def get_split_datasets(self, X, y=None, **fit_params):
        if isinstance(X, _FitData):
            return X.train, X.valid
        return super().get_split_datasets(X, y, **fit_params)

    def get_iterator(self, dataset, training=False):
        if not isinstance(dataset, ArrayDataset):
            return super().get_iterator(dataset, training=training)
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        return ArrayBatches(
            dataset, kwargs.get("batch_size", self.batch_size),
            shuffle=training and kwargs.get("shuffle", True),
            generator=getattr(dataset, "generator", None),
            sampler=self.sampler if training else None,
            sampling_ratio=self.sampling_ratio,
        )

    def get_loss(self, y_pred, y_true, X=None, training=False):
        sample_weight = None
        if isinstance(y_true, (tuple, list)):
            y_true, sample_weight = y_true
        if sample_weight is None:
            return self.criterion_(y_pred, y_true)
        return self.criterion_(y_pred, y_true, sample_weight=sample_weight)

    def train_step(self, batch, **fit_params):
        step = super().train_step(batch, **fit_params)
        if not torch.isfinite(step["loss"]):
            raise FloatingPointError(
                f"training diverged: the loss became {step['loss'].detach().item()} in epoch "
                f"{len(self.history)}. Lower the learning rate (lr={self.lr}), scale the "
                "features (e.g. StandardScaler) or check the loss hyperparameters."
            )
        return step

    # -------------------------------------------------------------- prediction
    def forward_logits(self, X):
        """Logits of the network for a tensor ``X``, in evaluation mode, in chunks."""
        self._set_training(False)
        chunk = max(self.batch_size if self.batch_size > 0 else len(X), _PREDICT_CHUNK)
        outputs = []
        with torch.no_grad():
            for start in range(0, len(X), chunk):
                output = self.module_(X[start:start + chunk])
                if isinstance(output, (tuple, list)):
                    output = output[0]
                outputs.append(output)
        return torch.cat(outputs) if outputs else torch.empty(0, len(self.classes_))

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
        X = self._validate_X(X)
        with torch_threads(self.n_threads):
            logits = self._decision_logits(_as_tensor(X, self.device or "cpu"))
        logits = logits / getattr(self, "temperature_", 1.0)
        nonlinearity = self.predict_nonlinearity
        if callable(nonlinearity):
            proba = torch.as_tensor(nonlinearity(logits)).double()
        else:
            proba = torch.softmax(logits.double(), dim=1)
        proba = proba.cpu().numpy()
        return proba / proba.sum(axis=1, keepdims=True)

    def training_log_shift(self):
        """``log m_c``: how training multiplied each class (see ``prior_correction``).

        Returns
        -------
        log_shift : ndarray of shape (n_classes,)
            Zero for a plain unweighted fit.
        """
        check_is_fitted(self)
        tiny = np.finfo(np.float64).tiny
        counts = np.maximum(np.asarray(self.class_counts_, dtype=np.float64), 1.0)
        shift = np.zeros(len(counts))
        weight = getattr(self.criterion_, "weight", None)
        if isinstance(weight, torch.Tensor):  # the weight in force after the last epoch
            shift += np.log(np.maximum(weight.detach().cpu().double().numpy(), tiny))
        if self.sampler is not None:
            sizes = resampled_sizes(self.class_counts_, self.sampler, self.sampling_ratio)
            shift += np.log(np.maximum(sizes, tiny) / counts)
        for name in ("class_weight", "alpha"):  # class-balanced weights, focal alpha
            extra = getattr(self.criterion_, name, None)
            if isinstance(extra, torch.Tensor):
                extra = extra.detach().cpu().double().numpy()
                if extra.ndim == 0:  # binary RetinaNet alpha: class 1 alpha, class 0 1 - alpha
                    extra = np.array([1.0 - extra, extra])
                shift += np.log(np.maximum(extra, tiny))
        if isinstance(self.criterion_, LogitAdjustedLoss) and self.criterion_.tau:
            prior = self.criterion_.class_counts.double().clamp_min(1.0).numpy()
            shift -= self.criterion_.tau * np.log(prior / prior.sum())
        return shift

    def predict(self, X):
        """Predicted class labels (the original labels of ``y``).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags


def _init_parameters(factory):
    """Names accepted by ``factory``'s constructor, or None if it takes ``**kwargs``."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return None
    return {name for name, p in parameters.items() if p.kind is not p.VAR_POSITIONAL}


def _fit_labels(y, classes):
    encoder = LabelEncoder().fit(y if classes is None else np.asarray(classes))
    if classes is not None:
        missing = np.setdiff1d(np.unique(y), encoder.classes_)
        if missing.size:
            raise ValueError(f"y contains labels {missing.tolist()!r} that are not in "
                             f"classes={encoder.classes_.tolist()!r}.")
    if len(encoder.classes_) < 2:
        raise ValueError(
            f"y has only one class ({encoder.classes_.tolist()!r}); a classifier needs "
            "samples of at least two classes. Check the labels or the data split."
        )
    return encoder


def _encode(encoder, y):
    try:
        return encoder.transform(y).astype(np.int64)
    except ValueError as exc:
        raise ValueError(f"y contains labels the classifier was not set up with "
                         f"(classes are {encoder.classes_.tolist()!r}): {exc}") from exc


def _as_tensor(array, device):
    """A tensor sharing memory with ``array`` where possible (copied if read-only)."""
    return torch.as_tensor(np.require(array, requirements="W"), device=device)


def _subset(dataset, indices):
    index = torch.as_tensor(indices, device=dataset.X.device)
    weights = None if dataset.sample_weight is None else dataset.sample_weight[index]
    return ArrayDataset(dataset.X[index], dataset.y[index], weights)


__all__ = ["ImbalancedNetClassifier"]
