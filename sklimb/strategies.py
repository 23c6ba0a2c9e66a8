"""Strategies for imbalanced classification: a loss, a class weighting, a resampler.

A :class:`Strategy` is a recipe that :func:`sklimb.compare` turns into a
pipeline ``[StandardScaler] -> [sampler] -> ImbalancedNetClassifier`` for each
training fold. Strategies can also be written as strings such as ``"focal"``,
``"ce+balanced"`` or ``"smote+focal"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from imblearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from .decision import TunedDecisionClassifier
from .estimator import ImbalancedNetClassifier
from .losses import LOSSES
from .resampling import SAMPLERS, make_sampler

#: weighting parts: class_weight values of the estimator; "unweighted" is class_weight=None
WEIGHTINGS = {"balanced": "balanced", "sqrt_balanced": "sqrt_balanced",
              "effective_number": "effective_number", "unweighted": None}
#: the estimator's own default, used when a strategy names no weighting
DEFAULT_WEIGHTING = "auto"
#: parameters a strategy sets itself; net_params may not give them
RESERVED_NET_PARAMS = ("loss", "random_state")
# training options of the network itself (not pipeline steps): ``epoch_<sampler>`` resamples
# afresh every epoch, with the same samplers as the pipeline steps
OPTIONS = {
    **{f"epoch_{name}": {"sampler": name} for name in SAMPLERS},
    "drw": {"class_weight_start": 0.5},    # deferred re-weighting from half-way
    "prior": {"prior_correction": True},   # probabilities corrected back to the data's prior
}
DECISIONS = ("tuned",)  # TunedDecisionClassifier around the pipeline

DEFAULT_STRATEGIES = (
    "ce",
    "ce+unweighted",
    "ce+effective_number",
    "focal",
    "focal+unweighted",
    "class_balanced",
    "ghm",
    "dice",
    "ldam",
    "logit_adjusted",
    "over+ce",
    "under+ce",
    "smote+ce",
)


@dataclass(frozen=True)
class Strategy:
    """A way of training a network on imbalanced data.

    A strategy means the same model wherever it is written: ``"focal"`` is
    ``ImbalancedNetClassifier(loss="focal")`` with every other parameter at
    the estimator's default (including ``class_weight="auto"``, square-root
    balanced class weights for focal), preceded by a ``StandardScaler`` in
    :func:`sklimb.compare`. Parts change one thing each: a sampler adds a
    pipeline step, a weighting sets ``class_weight`` (``unweighted`` means
    ``class_weight=None``), an option sets network parameters.

    Parameters
    ----------
    name : str
        Label used in result tables.
    loss : str, default="ce"
        A loss name of :data:`sklimb.losses.LOSSES`.
    loss_params : dict, default={}
        ``loss__<name>`` hyperparameters, without the prefix.
    class_weight : "auto", None, "balanced", "sqrt_balanced", "effective_number" or dict, \
default="auto"
        Passed to :class:`~sklimb.ImbalancedNetClassifier`; ``"auto"`` is
        its default.
    sampler : None, "over", "under" or "smote", default=None
        Resampling applied once to each training fold before the network
        (:func:`sklimb.resampling.make_sampler`; the part ``epoch_<sampler>``
        instead resamples afresh every epoch, with the same sampler).
    net_options : dict, default={}
        Further :class:`~sklimb.ImbalancedNetClassifier` parameters, from the
        parts ``epoch_over``/``epoch_smote``/``epoch_under`` (per-epoch
        resampling), ``drw``
        (deferred re-weighting from half-way; with the default weighting the
        deferred weights are ``"balanced"``) and ``prior``
        (``prior_correction=True``).
    tuned : bool, default=False
        Wrap the pipeline in :class:`~sklimb.decision.TunedDecisionClassifier`
        (part ``tuned``), which picks the decision rule out of fold.

    Examples
    --------
    >>> from sklimb.strategies import Strategy
    >>> Strategy.parse("smote+focal+unweighted")
    Strategy(name='smote+focal+unweighted', loss='focal', loss_params={}, class_weight=None, \
sampler='smote', net_options={}, tuned=False)
    """

    name: str
    loss: str = "ce"
    loss_params: dict = field(default_factory=dict)
    class_weight: object = DEFAULT_WEIGHTING
    sampler: str | None = None
    net_options: dict = field(default_factory=dict)
    tuned: bool = False

    @classmethod
    def parse(cls, spec):
        """Build a strategy from ``"[sampler+]loss[+weighting]"`` (parts in any order).

        A part ``name=value`` sets a loss hyperparameter, e.g. ``"focal+gamma=1"``.
        """
        if isinstance(spec, Strategy):
            return spec
        if not isinstance(spec, str) or not spec.strip():
            raise ValueError(f"a strategy must be a non-empty string or a Strategy; got {spec!r}.")
        loss, sampler, weighting, params, options, tuned = None, None, None, {}, {}, False
        weighting_named = False
        for part in (p.strip() for p in spec.split("+")):
            if "=" in part:
                key, value = part.split("=", 1)
                params[key.strip()] = _number(value.strip())
            elif part in LOSSES:
                loss = _only_one("loss", loss, part, spec)
            elif part in SAMPLERS:
                sampler = _only_one("sampler", sampler, part, spec)
            elif part in WEIGHTINGS:
                weighting = WEIGHTINGS[_only_one("class weighting", weighting, part, spec)]
                weighting_named = True
            elif part in OPTIONS:
                options.update(OPTIONS[part])
            elif part in DECISIONS:
                tuned = True
            else:
                raise ValueError(
                    f"unknown part {part!r} in strategy {spec!r}; use losses "
                    f"{sorted(LOSSES)}, samplers {list(SAMPLERS)}, weightings {list(WEIGHTINGS)}, "
                    f"options {sorted(OPTIONS)}, 'tuned' "
                    "or a loss hyperparameter such as gamma=1, joined with '+'."
                )
        return cls(name=spec, loss=loss or "ce", loss_params=params,
                   class_weight=weighting if weighting_named else DEFAULT_WEIGHTING,
                   sampler=sampler, net_options=options, tuned=tuned)

    def net_params(self, net_params=None, random_state=None):
        """The :class:`~sklimb.ImbalancedNetClassifier` parameters of this strategy.

        ``net_params`` (shared by every strategy of a comparison) give the
        network's parameters; what the strategy names itself (its weighting,
        options and loss hyperparameters) takes precedence over them. A
        weighting part overrides ``net_params["class_weight"]``; without one,
        ``net_params["class_weight"]`` (if any) replaces the estimator's
        default. ``loss`` and ``random_state`` belong to the strategy and the
        comparison: giving them in ``net_params`` raises a ``ValueError``.
        """
        shared = dict(net_params or {})
        reserved = [key for key in RESERVED_NET_PARAMS if key in shared]
        if reserved:
            raise ValueError(
                f"net_params may not set {reserved}: the loss is part of each strategy "
                "(write it in the strategy, e.g. 'focal') and the seed is compare's "
                "random_state."
            )
        params = {**shared, "loss": self.loss, "random_state": random_state}
        if self.class_weight != DEFAULT_WEIGHTING or "class_weight" not in shared:
            params["class_weight"] = self.class_weight
        params.update(self.net_options)
        params.update({f"loss__{k}": v for k, v in self.loss_params.items()})
        return params

    def build(self, *, scale=True, random_state=None, net_params=None):
        """The pipeline for one training fold.

        SMOTE shrinks its ``k`` to ``n_c - 1`` for a class of ``n_c <= k``
        rows by itself (see :mod:`sklimb.resampling`), so small classes do
        not make a fold fail.
        """
        net = ImbalancedNetClassifier(**self.net_params(net_params, random_state))
        steps = [("scale", StandardScaler())] if scale else []
        if self.sampler is not None:
            steps.append(("sampler", make_sampler(self.sampler, random_state)))
        steps.append(("net", net))
        if self.tuned:
            return TunedDecisionClassifier(Pipeline(steps), scoring="balanced_accuracy", cv=3,
                                           random_state=random_state)
        return Pipeline(steps)


def _only_one(kind, current, new, spec):
    if current is not None:
        raise ValueError(f"strategy {spec!r} names two of kind {kind}: {current!r} and {new!r}.")
    return new


def _number(text):
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


__all__ = ["DEFAULT_STRATEGIES", "SAMPLERS", "WEIGHTINGS", "Strategy", "make_sampler"]
