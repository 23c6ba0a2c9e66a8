"""The ``sklimb`` command (also ``python -m sklimb``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .compare import compare
from .datasets import DATASETS
from .describe import describe
from .metrics import DEFAULT_METRICS, RANKING, THRESHOLD
from .strategies import DEFAULT_STRATEGIES


class CommandError(Exception):
    """A problem with the user's input, reported without a traceback."""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="sklimb", description="Neural networks for imbalanced data, the scikit-learn way.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    data = argparse.ArgumentParser(add_help=False)
    source = data.add_argument_group("data")
    source.add_argument("--data", type=Path, help="CSV or Parquet file with features and target")
    source.add_argument("--target", help="name of the target column in --data")
    source.add_argument("--dataset", choices=sorted(DATASETS), default="long_tailed_digits",
                        help="built-in dataset when --data is not given (default: %(default)s)")
    source.add_argument("--imbalance-ratio", type=float, default=None,
                        help="imbalance ratio of the built-in dataset")
    run = commands.add_parser(
        "compare", parents=[data], help="cross-validated comparison of imbalance strategies",
        description="Compare losses, class weightings and resamplers with stratified "
                    "cross-validation. Without --data it runs on a built-in dataset.")
    setup = run.add_argument_group("comparison")
    setup.add_argument("--strategies", nargs="+", default=list(DEFAULT_STRATEGIES),
                       metavar="S", help="strategies such as ce, ce+balanced, focal, "
                       "smote+ce, focal+gamma=1 (default: all of %(default)s)")
    setup.add_argument("--metrics", nargs="+", default=list(DEFAULT_METRICS), metavar="M",
                       help="metric or scikit-learn scorer names (default: %(default)s)")
    setup.add_argument("--folds", type=int, default=5, help="CV folds (default: %(default)s)")
    setup.add_argument("--repeats", type=int, default=1, help="CV repeats (default: %(default)s)")
    setup.add_argument("--max-epochs", type=_max_epochs, default=50, metavar="E",
                       help="epochs of every network, or 'auto' for the estimator's own "
                            "default of about 2000 optimiser steps per fit, which is "
                            "stronger but several times slower (default: %(default)s, which "
                            "keeps the default run near a minute on 2 cores)")
    setup.add_argument("--random-state", type=int, default=0)
    execution = run.add_argument_group("execution")
    execution.add_argument("--n-jobs", type=int, default=None,
                           help="parallel fits on this machine (-1: all cores)")
    execution.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786")
    execution.add_argument("--device", default=None, help="torch device, e.g. cuda")
    output = run.add_argument_group("output")
    output.add_argument("--output", type=Path, default=Path("sklimb-results"),
                        help="folder for CSV/JSON tables, report.md and plots "
                             "(default: %(default)s)")
    output.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    output.add_argument("--quiet", action="store_true", help="no progress bar")
    about = commands.add_parser(
        "describe", parents=[data], help="class counts, imbalance ratio and small-class risks",
        description="Describe the class distribution of the target: counts, imbalance ratio, "
                    "effective numbers of samples and class-balanced weights, and the classes "
                    "too small for the given cross-validation or SMOTE k.")
    about.add_argument("--folds", type=int, default=5, help="CV folds to check (default: 5)")
    about.add_argument("--smote-k", type=int, default=5,
                       help="SMOTE k_neighbors to check (default: 5)")
    about.add_argument("--full", action="store_true", help="show every beta")
    return parser


def load_data(args, check_features=True):
    """``(X, y, description)`` from ``--data/--target`` or a built-in ``--dataset``.

    ``check_features=False`` accepts non-numeric feature columns (``describe``
    only looks at the target).
    """
    if args.data is None:
        if args.target is not None:
            raise CommandError("--target needs --data (a CSV or Parquet file).")
        loader = DATASETS[args.dataset]
        kwargs = {} if args.imbalance_ratio is None else {"imbalance_ratio": args.imbalance_ratio}
        X, y = loader(return_X_y=True, **kwargs)
        return X, y, f"built-in dataset {args.dataset}"
    frame = read_table(args.data)
    if args.target is None:
        raise CommandError(f"--target is required with --data; columns of {args.data}: "
                           f"{list(frame.columns)}.")
    if args.target not in frame.columns:
        raise CommandError(f"target column {args.target!r} is not in {args.data}; columns are "
                           f"{list(frame.columns)}.")
    y = frame[args.target].to_numpy()
    X = frame.drop(columns=[args.target])
    if check_features and X.shape[1] == 0:
        raise CommandError(f"{args.data} has no feature columns besides {args.target!r}.")
    non_numeric = [str(c) for c, dtype in X.dtypes.items() if dtype.kind not in "biuf"]
    if check_features and non_numeric:
        raise CommandError(f"feature columns {non_numeric} of {args.data} are not numeric; "
                           "encode them (for example one-hot) or drop them first.")
    if frame[args.target].isna().any():
        raise CommandError(f"target column {args.target!r} has missing values.")
    if len(np.unique(y)) < 2:
        raise CommandError(f"target column {args.target!r} has a single class "
                           f"({np.unique(y).tolist()}); a comparison needs at least two.")
    return X, y, f"{args.data} (target {args.target!r})"


def read_table(path):
    import pandas as pd

    if not path.exists():
        raise CommandError(f"data file {str(path)!r} not found.")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path)
        except ImportError as exc:
            raise CommandError("reading Parquet needs pyarrow: pip install pyarrow.") from exc
    if suffix in (".csv", ".txt", ".tsv"):
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    raise CommandError(f"cannot read {str(path)!r}: use a .csv, .tsv or .parquet file.")


def run_compare(args):
    try:
        X, y, description = load_data(args)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    net_params = {"max_epochs": args.max_epochs}
    print(f"sklimb compare: {description}, {len(y)} samples, {X.shape[1]} features, "
          f"{len(args.strategies)} strategies x {args.folds} folds x {args.repeats} repeat(s)",
          flush=True)
    try:
        result = compare(X, y, args.strategies, metrics=args.metrics, cv=args.folds,
                         n_repeats=args.repeats, random_state=args.random_state,
                         n_jobs=args.n_jobs, scheduler=args.scheduler, net_params=net_params,
                         device=args.device, progress=not args.quiet)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    for kind, title in ((THRESHOLD, "threshold metrics (hard predictions)"),
                        (RANKING, "ranking metrics (probabilities)")):
        if kind in set(result.metrics.values()):
            table = result.summary_table(kind)
            print(f"\n{title}, ranked by {table.columns[0]}:")
            print(table.to_string())
    paths = result.save(args.output, plots=not args.no_plots)
    print(f"\nwrote {len(paths)} files to {args.output}/ (report: {args.output / 'report.md'})")
    return 0


def run_describe(args):
    try:
        _, y, description = load_data(args, check_features=False)
        result = describe(y, cv=args.folds, smote_k=args.smote_k)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    print(f"sklimb describe: {description}\n")
    print(result.to_markdown(full=args.full))
    return 0


def _max_epochs(text):
    """``--max-epochs``: a non-negative integer or ``auto``."""
    if text == "auto":
        return text
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a non-negative integer or 'auto', got "
                                         f"{text!r}")
    return int(text)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "describe":
            return run_describe(args)
        return run_compare(args)
    except CommandError as exc:
        print(f"sklimb: error: {exc}", file=sys.stderr)
        return 2


__all__ = ["build_parser", "main"]

