"""The one list of losses every shared loss test runs over, with float64 references.

Each reference is the paper's formula written plainly in float64 (probabilities
from ``exp`` and a sum, one-hot labels, explicit loops over bins), independent
of the package's code. ``1 - p_t`` is the sum of the other probabilities, so
the references stay accurate at saturated logits.

Adding a loss to the package means adding one ``LossCase`` here.
"""

from dataclasses import dataclass, field

import numpy as np
import torch

from sklimb import losses as L

COUNTS = {2: [40, 5], 3: [50, 12, 3], 4: [90, 30, 9, 2], 5: [100, 50, 20, 8, 2]}


def counts_for(n_classes):
    return COUNTS.get(n_classes, [3 * (n_classes - c) for c in range(n_classes)])


# --------------------------------------------------------------------- the references
def softmax_parts(z):
    """``(p, log p)`` of each row of float64 ``z``."""
    shifted = z - z.max(1, keepdim=True).values
    e = shifted.exp()
    return e / e.sum(1, keepdim=True), shifted - e.sum(1, keepdim=True).log()


def true_parts(z, t):
    """``(p_t, 1 - p_t, log p_t)``, ``1 - p_t`` summed from the other probabilities."""
    p, log_p = softmax_parts(z)
    onehot = torch.nn.functional.one_hot(t, z.shape[1]).bool()
    return p[onehot], p.masked_fill(onehot, 0.0).sum(1), log_p[onehot]


def ce_rows(z, t, smoothing=0.0):
    _, log_p = softmax_parts(z)
    return -(1 - smoothing) * log_p.gather(1, t[:, None])[:, 0] - smoothing * log_p.mean(1)


def focal_rows(z, t, gamma):
    _, u, log_pt = true_parts(z, t)
    return -(u ** gamma) * log_pt


def bce_terms(x, t):
    """Per-logit one-vs-rest BCE and the probability of the wrong answer."""
    y = torch.nn.functional.one_hot(t, x.shape[1]).double()
    bce = torch.nn.functional.softplus(x) - y * x  # -y log s(x) - (1 - y) log(1 - s(x))
    wrong = torch.where(y > 0, torch.sigmoid(-x), torch.sigmoid(x))
    return bce, wrong


def sigmoid_rows(x, t, gamma=0.0):
    bce, wrong = bce_terms(x, t)
    return (wrong ** gamma * bce).sum(1)


def dice_rows(z, t, alpha, smooth):
    p_t, u, _ = true_parts(z, t)
    q = u ** alpha * p_t
    return 1 - (2 * q + smooth) / (q + 1 + smooth)


def ghm_rows(x, t, bins):
    bce, wrong = bce_terms(x, t)
    g = wrong.detach().numpy()
    index = np.minimum((g * bins).astype(int), bins - 1)
    count = np.array([(index == b).sum() for b in range(bins)], dtype=float)
    beta = index.size / (count[index] * (count > 0).sum())
    return (torch.as_tensor(beta) * bce).mean(1)


def effective_weights(counts, beta):
    counts = np.maximum(np.asarray(counts, float), 1)
    w = (1 - beta) / (1 - beta ** counts)
    return torch.as_tensor(w / w.sum() * len(counts))


def ldam_rows(z, t, counts, max_margin, scale):
    counts = np.maximum(np.asarray(counts, float), 1)
    margins = max_margin * (counts.min() / counts) ** 0.25
    onehot = torch.nn.functional.one_hot(t, z.shape[1]).double()
    return ce_rows(scale * (z - torch.as_tensor(margins)[t][:, None] * onehot), t)


def la_rows(z, t, counts, tau):
    counts = np.maximum(np.asarray(counts, float), 1)
    return ce_rows(z + tau * torch.as_tensor(np.log(counts / counts.sum())), t)


def reduce_reference(rows, t, weight, sample_weight, reduction, class_factor=None):
    w = torch.ones_like(rows)
    for per_class in (weight, class_factor):
        if per_class is not None:
            w = w * torch.as_tensor(per_class, dtype=torch.float64)[t]
    if sample_weight is not None:
        w = w * sample_weight.double()
    if reduction == "none":
        return w * rows
    if reduction == "sum":
        return (w * rows).sum()
    return (w * rows).sum() / w.sum()


# --------------------------------------------------------------------- the list
@dataclass
class LossCase:
    """A loss configuration: its function and module, given the class counts, and the
    float64 reference of its per-example losses (``class_factor(counts)`` is a per-class
    weight the loss applies on its own, such as the class-balanced weights)."""

    name: str
    function: object  # (counts) -> callable(logits, target, **weights_and_reduction)
    module: object  # (counts, **kwargs) -> nn.Module
    rows: object  # (x64, t, counts) -> per-example reference losses
    class_factor: object = None
    #: the loss depends on the logits only through their softmax
    shift_invariant: bool = True
    #: one example's loss does not depend on the rest of the batch
    per_example: bool = True
    tags: set = field(default_factory=set)
    #: relative tolerance against the reference: 1e-6 where the loss keeps per-class
    #: constants in float32 (margins, priors, alpha)
    rtol: float = 1e-9
    #: the loop of sklimb.losses._compiled that computes it on small CPU batches, if any
    loop: str = None

    def __str__(self):
        return self.name

    def reference(self, x, t, counts, weight=None, sample_weight=None, reduction="mean"):
        factor = None if self.class_factor is None else self.class_factor(counts)
        return reduce_reference(self.rows(x.double(), t, counts), t, weight, sample_weight,
                                reduction, factor)


def _case(name, function, module, rows, **kwargs):
    return LossCase(name, function, module, rows, **kwargs)


CASES = [
    _case("ce", lambda c: L.cross_entropy_loss, lambda c, **k: L.CrossEntropyLoss(**k),
          lambda x, t, c: ce_rows(x, t)),
    _case("ce_smoothing",
          lambda c: lambda *a, **k: L.cross_entropy_loss(*a, label_smoothing=0.2, **k),
          lambda c, **k: L.CrossEntropyLoss(label_smoothing=0.2, **k),
          lambda x, t, c: ce_rows(x, t, 0.2)),
    _case("focal", lambda c: L.focal_loss, lambda c, **k: L.FocalLoss(**k),
          lambda x, t, c: focal_rows(x, t, 2.0), loop="focal_loop"),
    _case("focal_gamma_0.3", lambda c: lambda *a, **k: L.focal_loss(*a, gamma=0.3, **k),
          lambda c, **k: L.FocalLoss(gamma=0.3, **k), lambda x, t, c: focal_rows(x, t, 0.3),
          loop="focal_loop"),
    _case("focal_alpha",
          lambda c: lambda *a, **k: L.focal_loss(*a, alpha=np.linspace(0.2, 0.8, len(c)), **k),
          lambda c, **k: L.FocalLoss(alpha=np.linspace(0.2, 0.8, len(c)), **k),
          lambda x, t, c: focal_rows(x, t, 2.0),
          class_factor=lambda c: np.linspace(0.2, 0.8, len(c)), rtol=1e-6, loop="focal_loop"),
    _case("class_balanced",
          lambda c: lambda *a, **k: L.class_balanced_loss(*a, class_counts=c, beta=0.99, **k),
          lambda c, **k: L.ClassBalancedLoss(class_counts=c, beta=0.99, **k),
          lambda x, t, c: ce_rows(x, t), class_factor=lambda c: effective_weights(c, 0.99)),
    _case("class_balanced_focal",
          lambda c: lambda *a, **k: L.class_balanced_loss(*a, class_counts=c, base="focal",
                                                          gamma=0.5, **k),
          lambda c, **k: L.ClassBalancedLoss(class_counts=c, base="focal", gamma=0.5, **k),
          lambda x, t, c: focal_rows(x, t, 0.5),
          class_factor=lambda c: effective_weights(c, 0.999), loop="focal_loop"),
    _case("class_balanced_sigmoid",
          lambda c: lambda *a, **k: L.class_balanced_loss(*a, class_counts=c, base="sigmoid",
                                                          **k),
          lambda c, **k: L.ClassBalancedLoss(class_counts=c, base="sigmoid", **k),
          lambda x, t, c: sigmoid_rows(x, t), class_factor=lambda c: effective_weights(c, 0.999),
          shift_invariant=False, loop="sigmoid_loop"),
    _case("class_balanced_sigmoid_focal",
          lambda c: lambda *a, **k: L.class_balanced_loss(*a, class_counts=c,
                                                          base="sigmoid_focal", gamma=1.5, **k),
          lambda c, **k: L.ClassBalancedLoss(class_counts=c, base="sigmoid_focal", gamma=1.5,
                                             **k),
          lambda x, t, c: sigmoid_rows(x, t, 1.5),
          class_factor=lambda c: effective_weights(c, 0.999), shift_invariant=False,
          loop="sigmoid_loop"),
    _case("ghm", lambda c: L.ghm_c_loss, lambda c, **k: L.GHMCLoss(momentum=0.0, **k),
          lambda x, t, c: ghm_rows(x, t, 10), shift_invariant=False, per_example=False,
          tags={"binned"}, loop="ghm_loop"),
    _case("dice", lambda c: L.dice_loss, lambda c, **k: L.DiceLoss(**k),
          lambda x, t, c: dice_rows(x, t, 0.1, 1.0), loop="dice_loop"),
    _case("dice_alpha_0", lambda c: lambda *a, **k: L.dice_loss(*a, alpha=0.0, **k),
          lambda c, **k: L.DiceLoss(alpha=0.0, **k), lambda x, t, c: dice_rows(x, t, 0.0, 1.0),
          loop="dice_loop"),
    _case("ldam", lambda c: lambda *a, **k: L.ldam_loss(*a, class_counts=c, **k),
          lambda c, **k: L.LDAMLoss(class_counts=c, **k),
          lambda x, t, c: ldam_rows(x, t, c, 0.5, 5.0), rtol=1e-6, loop="ldam_loop"),
    _case("logit_adjusted",
          lambda c: lambda *a, **k: L.logit_adjusted_loss(*a, class_counts=c, tau=1.0, **k),
          lambda c, **k: L.LogitAdjustedLoss(class_counts=c, **k),
          lambda x, t, c: la_rows(x, t, c, 1.0), rtol=1e-6),
]
#: every family of sklimb.losses.LOSSES appears in the list
assert {type(case.module(counts_for(3))) for case in CASES} == set(L.LOSSES.values())


def random_case(n_samples=9, n_classes=4, seed=0, scale=3.0):
    """Seeded float64 logits, targets (every class present when possible), class weights
    in [0.1, 2.1) and sample weights in [0, 2)."""
    gen = torch.Generator().manual_seed(seed)
    logits = scale * torch.randn(n_samples, n_classes, generator=gen, dtype=torch.float64)
    target = torch.randint(n_classes, (n_samples,), generator=gen)
    target[: min(n_samples, n_classes)] = torch.arange(min(n_samples, n_classes))
    weight = 0.1 + 2.0 * torch.rand(n_classes, generator=gen, dtype=torch.float64)
    sample_weight = 2.0 * torch.rand(n_samples, generator=gen, dtype=torch.float64)
    return logits, target, weight, sample_weight


WEIGHTINGS = ["none", "class", "sample", "both"]


def pick_weights(weighting, weight, sample_weight):
    return (weight if weighting in ("class", "both") else None,
            sample_weight if weighting in ("sample", "both") else None)
