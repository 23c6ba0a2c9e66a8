"""The result of :func:`sklimb.compare`: tidy tables, a Markdown report and plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .metrics import RANKING, THRESHOLD
from .significance import ALPHA, top_group

#: the columns of :meth:`ComparisonResult.summary` for each metric
STATISTICS = ("mean", "std", "p", "top")


class ComparisonResult:
    """Scores of several strategies over the same cross-validation folds.

    Attributes
    ----------
    scores : pandas.DataFrame
        One row per strategy x repeat x fold x metric, with columns
        ``strategy, repeat, fold, metric, kind, value``; ``kind`` is
        ``"threshold"`` or ``"ranking"``.
    per_class : pandas.DataFrame
        One row per strategy x repeat x fold x class with ``precision``,
        ``recall``, ``f1`` and ``support``. Recall and F1 are NaN in a fold
        whose test part has no sample of the class, precision when the class
        was never predicted; averages over folds leave those folds out.
    times : pandas.DataFrame
        ``fit_time`` and ``predict_time`` in seconds per strategy and fold, and
        ``prediction_hash``, a digest of the fold's predictions and
        probabilities: strategies with equal digests on every fold made the
        same predictions, and the tables show them as one row.
    metrics : dict
        Metric name to kind, in the order requested.
    strategies : list of str
        Strategy names in the order given.
    classes, class_counts : ndarray
        Labels and their counts in the whole data.
    setup : dict
        The cross-validation setup; ``setup["partial"]`` is true for the
        partial result of an interrupted comparison.
    """

    def __init__(self, scores, per_class, times, metrics, strategies, classes, class_counts,
                 setup):
        self.scores = scores
        self.per_class = per_class
        self.times = times
        self.metrics = metrics
        self.strategies = strategies
        self.classes = classes
        self.class_counts = class_counts
        self.setup = setup

    @classmethod
    def from_rows(cls, rows, metrics, strategies, classes, class_counts, setup):
        """Assemble the result from the per-fold records of :func:`sklimb.compare`."""
        score_rows, class_rows, time_rows = [], [], []
        for row in sorted(rows, key=lambda r: (strategies.index(r["strategy"]), r["repeat"],
                                               r["fold"])):
            key = {"strategy": row["strategy"], "repeat": row["repeat"], "fold": row["fold"]}
            for metric, value in row["scores"].items():
                score_rows.append({**key, "metric": metric, "kind": metrics[metric],
                                   "value": value})
            class_rows.extend({**key, **entry} for entry in row["per_class"])
            time_rows.append({**key, "fit_time": row["fit_time"],
                              "predict_time": row["predict_time"],
                              "prediction_hash": row.get("prediction_hash")})
        return cls(pd.DataFrame(score_rows), pd.DataFrame(class_rows), pd.DataFrame(time_rows),
                   metrics, strategies, np.asarray(classes), np.asarray(class_counts), setup)

    # ------------------------------------------------------------------ tables
    @property
    def primary_metric(self):
        """The metric strategies are ranked by: the first requested."""
        return next(iter(self.metrics))

    def same_predictions(self):
        """Groups of strategies that made the same predictions on every fold.

        Two strategies are grouped when the digests of their predicted labels
        and probabilities (``times["prediction_hash"]``) agree on every fold:
        the same model under two names (``"class_balanced"`` and
        ``"ce+effective_number"``, say), or models this data cannot tell apart.

        Returns
        -------
        groups : list of list of str
            In the order of :attr:`strategies`; a strategy alone is a group of one.
        """
        present = [name for name in self.strategies if name in set(self.times["strategy"])]
        if "prediction_hash" not in self.times or self.times["prediction_hash"].isna().all():
            return [[name] for name in present]
        digests = self.times.pivot_table(index="strategy", columns=["repeat", "fold"],
                                         values="prediction_hash", aggfunc="first",
                                         dropna=False)
        groups = {}
        for name in present:
            row = digests.loc[name]
            key = ("alone", name) if row.isna().any() else tuple(row)
            groups.setdefault(key, []).append(name)
        return list(groups.values())

    def _merged(self, frame, merge=True):
        """``frame`` with one strategy per group of :meth:`same_predictions`, named after all
        of them (``"a = b"``); ``frame`` itself unless ``merge``."""
        if not merge:
            return frame
        names = {group[0]: " = ".join(group) for group in self.same_predictions()}
        kept = frame[frame["strategy"].isin(list(names))]
        return kept.assign(strategy=kept["strategy"].map(names))

    def _test_train_ratio(self):
        """Test over training rows of a fold, ``1 / (cv - 1)`` for stratified k-fold."""
        return 1.0 / (self.setup["cv"] - 1)

    def significance(self, metric=None, alpha=ALPHA, merge=True):
        """The best strategy on ``metric`` and those not distinguishable from it.

        The corrected resampled t-test (:func:`sklimb.significance.corrected_ttest`)
        compares each strategy with the best over the same folds of every repeat.
        Strategies with the same predictions are one row (:meth:`same_predictions`)
        unless ``merge=False``.

        Returns
        -------
        table : pandas.DataFrame
            Index: strategy; ``mean``, ``p`` (against the best, NaN for it) and
            ``top`` (the best, or not distinguishable from it at ``alpha``),
            sorted by ``mean``.
        """
        metric = self.primary_metric if metric is None else metric
        return self._tested(self._merged(self.scores, merge), metric, alpha)

    def _tested(self, scores, metric, alpha):
        """:meth:`significance` of ``metric`` on ``scores`` (already merged or not)."""
        wide = scores[scores["metric"] == metric].pivot_table(
            index=["repeat", "fold"], columns="strategy", values="value", sort=False,
            dropna=False)
        table = top_group(wide, self._test_train_ratio(), alpha)
        table.insert(0, "mean", wide.mean())
        return table.sort_values("mean", ascending=False)

    def summary(self, kind=None, alpha=ALPHA, merge=True):
        """Mean and standard deviation over folds, ranked by the primary metric, with the
        significance of each difference to the best.

        Strategies with the same predictions on every fold are one row named
        after all of them (``"a = b"``, see :meth:`same_predictions`).

        Parameters
        ----------
        kind : {None, "threshold", "ranking"}, default=None
            Keep only metrics of this kind.
        alpha : float, default=0.05
            The level of the ``top`` marks (see :meth:`significance`).
        merge : bool, default=True
            One row for strategies with the same predictions on every fold;
            ``False`` keeps a row per strategy.

        Returns
        -------
        summary : pandas.DataFrame
            Index: strategy; columns ``(metric, "mean")``, ``(metric, "std")``,
            ``(metric, "p")`` (corrected resampled t-test against the best on
            that metric) and ``(metric, "top")`` (the best, or not
            distinguishable from it at ``alpha``), plus ``("fit_time", "mean")``.
        """
        scores = self._merged(self.scores, merge)
        if kind is not None:
            scores = scores[scores["kind"] == kind]
        order = [m for m in self.metrics if m in set(scores["metric"])]
        table = scores.pivot_table(index="strategy", columns="metric", values="value",
                                   aggfunc=["mean", "std"], sort=False, dropna=False)
        table = table.swaplevel(axis=1)
        for metric in order:
            tested = self._tested(scores, metric, alpha)
            table[(metric, "p")] = tested["p"]
            table[(metric, "top")] = tested["top"]
        table = table.reindex(columns=pd.MultiIndex.from_product([order, STATISTICS]))
        times = self._merged(self.times, merge)
        table[("fit_time", "mean")] = times.groupby("strategy")["fit_time"].mean()
        primary = self.primary_metric if self.primary_metric in order else order[0]
        return table.sort_values((primary, "mean"), ascending=False)

    @property
    def partial(self):
        """Whether the comparison was interrupted before every fit finished."""
        return bool(self.setup.get("partial", False))

    def missing_classes(self):
        """``{class: number of test folds without it}`` for classes absent from some folds."""
        if self.per_class.empty:
            return {}
        first = self.per_class[self.per_class["strategy"] == self.per_class["strategy"].iloc[0]]
        absent = first[first["support"] == 0].groupby("class").size()
        return {label: int(n) for label, n in absent.items()}

    def per_class_recall(self):
        """Mean recall of every class (columns) for every strategy (rows).

        A fold whose test part lacks a class does not count towards that
        class's mean (see :meth:`missing_classes`).
        """
        table = self._merged(self.per_class).pivot_table(
            index="strategy", columns="class", values="recall", aggfunc="mean", sort=False)
        return table.reindex(self.summary().index)

    def ranks(self):
        """Rank of each strategy on each metric (1 = best), and the mean rank."""
        means = self.summary().xs("mean", axis=1, level=1).drop(columns="fit_time")
        ranks = means.rank(ascending=False, method="min")
        ranks["mean_rank"] = ranks.mean(axis=1)
        return ranks.sort_values("mean_rank")

    def summary_table(self, kind=None, alpha=ALPHA):
        """The summary as printable strings: ``mean ± std`` per metric, fit seconds.

        A ``*`` marks the best strategy on each metric and those not
        distinguishable from it at ``alpha`` (see :meth:`significance`).
        """
        table = self.summary(kind, alpha)
        out = pd.DataFrame(index=table.index)
        for metric in dict.fromkeys(table.columns.get_level_values(0)):
            if metric == "fit_time":
                out["fit s"] = table[(metric, "mean")].map(lambda v: f"{v:.2f}")
            else:
                out[metric] = [f"{m:.3f} ± {s:.3f}{' *' if top else '  '}" for m, s, top in
                               zip(table[(metric, "mean")], table[(metric, "std")].fillna(0),
                                   table[(metric, "top")], strict=True)]
        return out

    def significance_legend(self, alpha=ALPHA):
        """What the ``*`` of :meth:`summary_table` means, in one line."""
        folds = self.setup["cv"] * self.setup["n_repeats"]
        return (f"* the best on a metric, or not distinguishable from it: corrected resampled "
                f"t-test (Nadeau and Bengio) over the {folds} paired folds, p >= {alpha:g}.")

    def significance_text(self, kind=None, alpha=ALPHA):
        """What the marks of :meth:`summary_table` say, in words: the legend
        (:meth:`significance_legend`), then one line per metric of ``kind``."""
        return [self.significance_legend(alpha), *self._findings(kind, alpha)]

    def _findings(self, kind, alpha):
        folds = self.setup["cv"] * self.setup["n_repeats"]
        lines = []
        for metric, metric_kind in self.metrics.items():
            if kind is not None and metric_kind != kind:
                continue
            tested = self.significance(metric, alpha).dropna(subset=["mean"])
            if tested.empty:
                continue
            best, below = tested.index[0], tested[~tested["top"]]
            if below.empty:
                lines.append(f"{metric}: no difference is significant; {best} is first, but "
                             f"the {folds} folds cannot tell it from any other strategy.")
            else:
                listed = ", ".join(f"{name} (p = {p:.2g})" for name, p in below["p"].items())
                lines.append(f"{metric}: {best} is best; {len(tested) - len(below) - 1} "
                             f"other(s) cannot be told from it; below it: {listed}.")
        return lines

    def to_markdown(self):
        """A Markdown report: setup, both kinds of metric, per-class recall, times."""
        setup = self.setup
        counts = ", ".join(f"{c}: {n}" for c, n in zip(self.classes, self.class_counts,
                                                         strict=True))
        lines = ["# sklimb comparison", ""]
        if self.partial:
            lines += ["**Partial result**: the comparison was interrupted; the tables hold "
                      "the folds that had finished.", ""]
        lines += [
            f"{setup['n_samples']} samples, {setup['n_features']} features, classes {{{counts}}}"
            f" (imbalance ratio {self.class_counts.max() / self.class_counts.min():.1f}).",
            f"Stratified {setup['cv']}-fold cross-validation x {setup['n_repeats']} repeat(s), "
            f"random_state={setup['random_state']}; mean ± std over folds.",
            "",
        ]
        merged = [group for group in self.same_predictions() if len(group) > 1]
        if merged:
            listed = "; ".join(" = ".join(group) for group in merged)
            lines += [f"Strategies with the same predictions on every fold are one row: "
                      f"{listed}.", ""]
        missing = self.missing_classes()
        n_folds = setup["cv"] * setup["n_repeats"]
        if missing:
            listed = ", ".join(f"{label!r} in {n} of {n_folds}" for label, n in missing.items())
            lines += [f"Classes absent from some test folds: {listed}. Their per-class "
                      "figures average the folds that have them.", ""]
        sections = [
            (THRESHOLD, "Threshold metrics (hard predictions)",
             "These move when a method shifts the decision threshold, which is most of what "
             "re-weighting and resampling do."),
            (RANKING, "Ranking metrics (probabilities)",
             "These measure how well the scores order the samples; a pure threshold shift "
             "leaves them almost unchanged."),
        ]
        # the legend once, under the first table; a leading "*" would start a nested list
        legend = [f"- {self.significance_legend().replace('* ', '`*` ', 1)}"]
        for kind, title, text in sections:
            if kind in set(self.metrics.values()):
                table = self.summary_table(kind)
                lines += [f"## {title}, ranked by {table.columns[0]}", "", text, "",
                          table.to_markdown(), "", *legend]
                lines += [f"- {line}" for line in self._findings(kind, ALPHA)] + [""]
                legend = []
        recall = self.per_class_recall().map(lambda v: f"{v:.2f}")
        lines += ["## Per-class recall", "", recall.to_markdown(), ""]
        return "\n".join(lines)

    def __repr__(self):
        return f"ComparisonResult(\n{self.summary_table(None).to_string()}\n)"

    # ------------------------------------------------------------------- plots
    def plot_metrics(self, metrics=None):
        """Bar chart per metric with the fold standard deviation as error bars.

        Returns
        -------
        fig : matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt

        metrics = list(self.metrics) if metrics is None else list(metrics)
        table = self.summary()
        order = table.index[::-1]
        fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics) + 1.5,
                                                           0.35 * len(order) + 1.6),
                                 sharey=True, squeeze=False)
        for ax, metric in zip(axes[0], metrics, strict=True):
            mean, std = table.loc[order, (metric, "mean")], table.loc[order, (metric, "std")]
            color = "tab:blue" if self.metrics[metric] == THRESHOLD else "tab:orange"
            ax.barh(range(len(order)), mean, xerr=std.fillna(0), color=color, alpha=0.8,
                    error_kw={"elinewidth": 1, "capsize": 2})
            ax.set_title(f"{metric}\n({self.metrics[metric]})", fontsize=9)
            low = np.nanmin(mean - std.fillna(0))
            ax.set_xlim(max(0.0, low - 0.05), min(1.0, float(np.nanmax(mean + std.fillna(0))))
                        + 0.02)
            ax.grid(axis="x", alpha=0.3)
        axes[0][0].set_yticks(range(len(order)), order)
        fig.tight_layout()
        return fig

    def plot_per_class_recall(self):
        """Heat map of the mean recall of every class for every strategy.

        Returns
        -------
        fig : matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt

        recall = self.per_class_recall()
        fig, ax = plt.subplots(figsize=(0.6 * recall.shape[1] + 3, 0.35 * len(recall) + 1.6))
        image = ax.imshow(recall.to_numpy(dtype=float), vmin=0, vmax=1, cmap="viridis",
                          aspect="auto")
        ax.set_xticks(range(recall.shape[1]),
                      [f"{c}\n(n={n})" for c, n in zip(recall.columns, self.class_counts,
                                                        strict=True)], fontsize=8)
        ax.set_yticks(range(len(recall)), recall.index)
        ax.set_xlabel("class (samples in the data)")
        for (i, j), value in np.ndenumerate(recall.to_numpy(dtype=float)):
            ax.text(j, i, "-" if np.isnan(value) else f"{value:.2f}", ha="center",
                    va="center", fontsize=7,
                    color="white" if not value >= 0.6 else "black")
        fig.colorbar(image, ax=ax, label="recall")
        ax.set_title("Per-class recall (mean over folds)")
        fig.tight_layout()
        return fig

    # -------------------------------------------------------------------- save
    def save(self, folder, plots=True):
        """Write CSV tables, a JSON summary, ``report.md`` and PNG plots to ``folder``.

        Returns
        -------
        paths : list of pathlib.Path
            The files written.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []

        def write(name, text):
            path = folder / name
            path.write_text(text, encoding="utf-8")
            paths.append(path)

        write("scores.csv", self.scores.to_csv(index=False))
        write("per_class.csv", self.per_class.to_csv(index=False))
        write("times.csv", self.times.to_csv(index=False))
        summary = self.summary()
        flat = summary.copy()
        flat.columns = [f"{metric}_{stat}" for metric, stat in summary.columns]
        write("summary.csv", flat.to_csv(index_label="strategy"))
        payload = {"setup": self.setup, "metrics": self.metrics,
                   "classes": [str(c) for c in self.classes],
                   "class_counts": [int(n) for n in self.class_counts],
                   "summary": json.loads(flat.to_json(orient="index"))}
        write("results.json", json.dumps(payload, indent=2))
        report = self.to_markdown()
        if plots:
            import matplotlib

            matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt

            for name, make in (("metrics.png", self.plot_metrics),
                               ("per_class_recall.png", self.plot_per_class_recall)):
                fig = make()
                fig.savefig(folder / name, dpi=120)
                plt.close(fig)
                paths.append(folder / name)
            report += "\n![metrics](metrics.png)\n\n![per-class recall](per_class_recall.png)\n"
        write("report.md", report)
        return paths


__all__ = ["ComparisonResult"]
