"""sklimb: neural networks for class-imbalanced data, the scikit-learn way.

* :mod:`sklimb.losses`: numerically stable PyTorch losses for imbalance
  (focal, class-balanced, GHM-C, dice, LDAM, logit adjustment, weighted CE).
"""

from . import losses

__version__ = "0.1.0"

__all__ = ["__version__", "losses"]
