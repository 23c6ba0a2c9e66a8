r"""Which differences between strategies are real: a paired test over the same folds.

Cross-validation scores of two strategies on the same folds are paired, but
the folds share most of their training rows, so the scores of one strategy
are correlated across folds and the ordinary paired t-test finds differences
that are not there. The corrected resampled t-test of Nadeau and Bengio
(2003), in the repeated k-fold form of Bouckaert and Frank (2004), widens the
variance for that overlap. With :math:`d_j` the difference of the two scores
on fold :math:`j` of :math:`J` (all repeats), :math:`n_2 / n_1` the ratio of
test to training rows of a fold (:math:`1 / (k - 1)` for k-fold):

.. math::

    t = \frac{\bar d}{\sqrt{\left(\frac{1}{J} + \frac{n_2}{n_1}\right) \hat\sigma_d^2}},

compared with Student's t distribution with :math:`J - 1` degrees of freedom
(``scipy.stats.t``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

#: the level of the significance marks of :class:`~sklimb.results.ComparisonResult`
ALPHA = 0.05


def corrected_ttest(differences, test_train_ratio):
    """Two-sided p-value of the corrected resampled t-test of paired fold differences.

    Parameters
    ----------
    differences : array-like of shape (n_folds,)
        Score of one strategy minus the other's, fold by fold (all repeats);
        NaN folds are left out.
    test_train_ratio : float
        Test rows over training rows of a fold: ``1 / (cv - 1)`` for k-fold.

    Returns
    -------
    p_value : float
        NaN with fewer than two folds; 1 when every difference is 0, 0 when
        every difference is the same non-zero value.

    Examples
    --------
    >>> from sklimb.significance import corrected_ttest
    >>> round(corrected_ttest([0.05, 0.04, 0.06, 0.05, 0.05], 1 / 4), 5)
    0.00046
    >>> round(corrected_ttest([0.05, -0.04, 0.06, -0.05, 0.02], 1 / 4), 2)
    0.83
    """
    d = np.asarray(differences, dtype=np.float64)
    d = d[~np.isnan(d)]
    if len(d) < 2:
        return np.nan
    if np.ptp(d) == 0:  # the same difference on every fold: no variance to test with
        return 1.0 if d[0] == 0 else 0.0
    mean, variance = d.mean(), d.var(ddof=1)
    t = mean / np.sqrt((1.0 / len(d) + test_train_ratio) * variance)
    return float(2.0 * stats.t.sf(abs(t), df=len(d) - 1))


def top_group(fold_scores, test_train_ratio, alpha=ALPHA):
    """The best strategy and those not distinguishable from it, on one metric.

    Parameters
    ----------
    fold_scores : pandas.DataFrame
        One row per fold (all repeats), one column per strategy; higher is better.
    test_train_ratio : float
        See :func:`corrected_ttest`.
    alpha : float, default=ALPHA
        The level: a strategy is below the best when the test's p-value is
        under ``alpha``.

    Returns
    -------
    table : pandas.DataFrame
        Index: strategy; columns ``p`` (against the best; NaN for the best
        itself) and ``top`` (the best, or not distinguishable from it).
    """
    means = fold_scores.mean()
    if means.isna().all():  # a metric no strategy could be scored on
        return pd.DataFrame({"p": np.nan, "top": False}, index=fold_scores.columns)
    best = means.idxmax()
    p = pd.Series({name: np.nan if name == best else corrected_ttest(
        fold_scores[best] - fold_scores[name], test_train_ratio)
        for name in fold_scores.columns}, dtype=np.float64)
    # a strategy the test cannot judge (fewer than two scored folds) stays in the top group,
    # one without any score does not
    top = (p.isna() & means.notna()) | (p >= alpha)
    return pd.DataFrame({"p": p, "top": top})


__all__ = ["ALPHA", "corrected_ttest", "top_group"]
