"""sklimb: neural networks for class-imbalanced data, the scikit-learn way.

* :mod:`sklimb.losses`: numerically stable PyTorch losses for imbalance
  (focal, class-balanced, GHM-C, dice, LDAM, logit adjustment, weighted CE).
* :class:`ImbalancedNetClassifier`: a skorch-based scikit-learn classifier
  whose ``loss=`` picks one of them.
"""

from . import datasets, losses
from .compare import compare
from .describe import describe
from .estimator import ImbalancedNetClassifier
from .modules import MLP

__version__ = "0.1.0"

__all__ = [
    "MLP",
    "ImbalancedNetClassifier",
    "__version__",
    "compare",
    "datasets",
    "describe",
    "losses",
]
