"""Strategies for imbalanced classification: a loss, a class weighting, a resampler.

A :class:`Strategy` is a recipe that :func:`sklimb.compare` turns into a
pipeline ``[StandardScaler] -> [sampler] -> ImbalancedNetClassifier`` for each
training fold. Strategies can also be written as strings such as ``"focal"``,
``"ce+balanced"`` or ``"smote+focal"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from imblearn.over_sampling import SMOTE, RandomOverSampler
from imblearn.pipeline import Pipeline
from imblearn.under_sampling import RandomUnderSampler
from sklearn.preprocessing import StandardScaler

from .decision import TunedDecisionClassifier
from .estimator import ImbalancedNetClassifier
from .losses import LOSSES

SAMPLERS = ("smote", "random_over", "random_under")
WEIGHTINGS = ("balanced", "effective_number")
# training options of the network itself (not pipeline steps)
OPTIONS = {
    "epoch_over": {"sampler": "over"},     # fresh random over-sampling every epoch
    "epoch_under": {"sampler": "under"},   # fresh random under-sampling every epoch
    "drw": {"class_weight_start": 0.5},    # deferred re-weighting from half-way
    "prior": {"prior_correction": True},   # probabilities corrected back to the data's prior
}
DECISIONS = ("tuned",)  # TunedDecisionClassifier around the pipeline
SMOTE_K_NEIGHBORS = 5

DEFAULT_STRATEGIES = (
    "ce",
    "ce+balanced",
    "ce+effective_number",
    "focal",
    "focal+balanced",
    "class_balanced",
    "ghm",
    "dice",
    "ldam",
    "logit_adjusted",
    "random_over+ce",
    "random_under+ce",
    "smote+ce",
)


@dataclass(frozen=True)
class Strategy:
    """A way of training a network on imbalanced data.

    Parameters
    ----------
    name : str
        Label used in result tables.
    loss : str, default="ce"
        A loss name of :data:`sklimb.losses.LOSSES`.
    loss_params : dict, default={}
        ``loss__<name>`` hyperparameters, without the prefix.
    class_weight : None, "balanced", "effective_number" or dict, default=None
        Passed to :class:`~sklimb.ImbalancedNetClassifier`.
    sampler : None, "smote", "random_over" or "random_under", default=None
        Resampling applied to each training fold before the network.
    net_options : dict, default={}
        Further :class:`~sklimb.ImbalancedNetClassifier` parameters, from the
        parts ``epoch_over``/``epoch_under`` (per-epoch resampling), ``drw``
        (deferred re-weighting from half-way; implies ``balanced`` weights when
        no weighting is named) and ``prior`` (``prior_correction=True``).
    tuned : bool, default=False
        Wrap the pipeline in :class:`~sklimb.decision.TunedDecisionClassifier`
        (part ``tuned``), which picks the decision rule out of fold.

    Examples
    --------
    >>> from sklimb.strategies import Strategy
    >>> Strategy.parse("smote+focal")
    Strategy(name='smote+focal', loss='focal', loss_params={}, class_weight=None, \
sampler='smote', net_options={}, tuned=False)
    """

    name: str
    loss: str = "ce"
    loss_params: dict = field(default_factory=dict)
    class_weight: object = None
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
        for part in (p.strip() for p in spec.split("+")):
            if "=" in part:
                key, value = part.split("=", 1)
                params[key.strip()] = _number(value.strip())
            elif part in LOSSES:
                loss = _only_one("loss", loss, part, spec)
            elif part in SAMPLERS:
                sampler = _only_one("sampler", sampler, part, spec)
            elif part in WEIGHTINGS:
                weighting = _only_one("class weighting", weighting, part, spec)
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
        if "class_weight_start" in options and weighting is None:
            weighting = "balanced"
        return cls(name=spec, loss=loss or "ce", loss_params=params, class_weight=weighting,
                   sampler=sampler, net_options=options, tuned=tuned)

    def build(self, y_train=None, *, scale=True, random_state=None, net_params=None):
        """The pipeline for one training fold.

        ``y_train`` lets SMOTE shrink ``k_neighbors`` to the rarest class of
        the fold (and fall back to random over-sampling when a class has a
        single sample), so small classes do not make the fold fail.
        """
        net = ImbalancedNetClassifier(loss=self.loss, class_weight=self.class_weight,
                                      random_state=random_state,
                                      **{**(net_params or {}), **self.net_options},
                                      **{f"loss__{k}": v for k, v in self.loss_params.items()})
        steps = [("scale", StandardScaler())] if scale else []
        if self.sampler is not None:
            steps.append(("sampler", make_sampler(self.sampler, y_train, random_state)))
        steps.append(("net", net))
        if self.tuned:
            return TunedDecisionClassifier(Pipeline(steps), scoring="balanced_accuracy", cv=3,
                                           random_state=random_state)
        return Pipeline(steps)


def make_sampler(name, y_train=None, random_state=None):
    """An imbalanced-learn sampler by name, with SMOTE's ``k`` fitted to ``y_train``."""
    if name == "random_over":
        return RandomOverSampler(random_state=random_state)
    if name == "random_under":
        return RandomUnderSampler(random_state=random_state)
    if name == "smote":
        k = SMOTE_K_NEIGHBORS
        if y_train is not None:
            smallest = np.unique(np.asarray(y_train), return_counts=True)[1].min()
            if smallest < 2:
                return RandomOverSampler(random_state=random_state)
            k = min(k, smallest - 1)
        return SMOTE(k_neighbors=int(k), random_state=random_state)
    raise ValueError(f"unknown sampler {name!r}; use one of {list(SAMPLERS)}.")


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


__all__ = ["DEFAULT_STRATEGIES", "SAMPLERS", "Strategy", "make_sampler"]
