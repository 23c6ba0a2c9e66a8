"""The ``sklimb`` command (also ``python -m sklimb``)."""

from __future__ import annotations

import argparse
import csv
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from . import _runtime
from ._inputs import check_numeric_columns
from .compare import ComparisonInterrupted, SmallClassWarning, compare
from .datasets import DATASETS
from .describe import describe
from .metrics import DEFAULT_METRICS, RANKING, THRESHOLD
from .strategies import DEFAULT_STRATEGIES

#: exit status after Ctrl-C, as shells report a process stopped by SIGINT
INTERRUPTED = 130


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
    source.add_argument("--sep", default=None,
                        help="column separator of a CSV file (default: detected from the "
                             "header line)")
    source.add_argument("--dataset", choices=sorted(DATASETS), default="long_tailed_digits",
                        help="built-in dataset when --data is not given (default: %(default)s)")
    source.add_argument("--imbalance-ratio", type=float, default=None,
                        help="imbalance ratio of the built-in dataset (default: the loader's)")
    run = commands.add_parser(
        "compare", parents=[data], help="cross-validated comparison of imbalance strategies",
        description="Compare losses, class weightings and resamplers with stratified "
                    "cross-validation. Without --data it runs on a built-in dataset. Every "
                    "strategy is ImbalancedNetClassifier with that loss at its defaults.")
    setup = run.add_argument_group("comparison")
    setup.add_argument("--strategies", nargs="+", default=list(DEFAULT_STRATEGIES),
                       metavar="S", help="strategies such as ce, ce+unweighted, focal, "
                       "smote+ce, focal+gamma=1 (default: all of %(default)s)")
    setup.add_argument("--metrics", nargs="+", default=list(DEFAULT_METRICS), metavar="M",
                       help="metric or scikit-learn scorer names (default: %(default)s)")
    setup.add_argument("--folds", type=int, default=5, help="CV folds (default: %(default)s)")
    setup.add_argument("--repeats", type=int, default=1, help="CV repeats (default: %(default)s)")
    setup.add_argument("--max-epochs", type=_max_epochs, default=None, metavar="E",
                       help="override the epochs of every network (an integer >= 1 or "
                            "'auto'; default: the estimator's own training)")
    setup.add_argument("--random-state", type=int, default=0)
    execution = run.add_argument_group("execution")
    execution.add_argument("--n-jobs", type=int, default=-1,
                           help="parallel fits on this machine (default: -1, all cores)")
    execution.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786")
    execution.add_argument("--device", default=None, help="torch device, e.g. cuda")
    output = run.add_argument_group("output")
    output.add_argument("--output", default="sklimb-results",
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

    ``check_features=False`` accepts non-numeric feature columns and a single
    class (``describe`` only looks at the target and reports such risks).
    """
    if args.data is None:
        if args.target is not None:
            raise CommandError("--target needs --data (a CSV or Parquet file).")
        loader = DATASETS[args.dataset]
        kwargs = {} if args.imbalance_ratio is None else {"imbalance_ratio": args.imbalance_ratio}
        X, y = loader(return_X_y=True, **kwargs)
        return X, y, f"built-in dataset {args.dataset}"
    frame = read_table(args.data, args.sep)
    if args.target is None:
        raise CommandError(f"--target is required with --data; columns of {args.data}: "
                           f"{list(frame.columns)}.")
    if args.target not in frame.columns:
        hint = ""
        if len(frame.columns) == 1 and args.sep is None:
            hint = " If the file uses another separator, give it with --sep."
        raise CommandError(f"target column {args.target!r} is not in {args.data}; columns are "
                           f"{list(frame.columns)}.{hint}")
    if frame.empty:
        raise CommandError(f"{args.data} has no rows, only the header {list(frame.columns)}.")
    y = frame[args.target].to_numpy()
    X = frame.drop(columns=[args.target])
    if frame[args.target].isna().any():
        raise CommandError(f"target column {args.target!r} has missing values.")
    if check_features:
        if X.shape[1] == 0:
            raise CommandError(f"{args.data} has no feature columns besides {args.target!r}.")
        check_numeric_columns(X, source=args.data)
        if len(np.unique(y)) < 2:
            raise CommandError(f"target column {args.target!r} has a single class "
                               f"({np.unique(y).tolist()}); a comparison needs at least two.")
    return X, y, f"{args.data} (target {args.target!r})"


def read_table(path, sep=None):
    """A DataFrame from a CSV/TSV or Parquet file; a CSV's separator is detected if not given."""
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
        if sep is None:
            sep = "\t" if suffix == ".tsv" else _sniff_separator(path)
        try:
            return pd.read_csv(path, sep=sep)
        except pd.errors.EmptyDataError as exc:
            raise CommandError(f"{path} is empty: it has no header and no rows.") from exc
    raise CommandError(f"cannot read {str(path)!r}: use a .csv, .tsv or .parquet file.")


def _sniff_separator(path):
    """The separator of a CSV file, from its first line (``,`` if it cannot tell)."""
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        header = handle.readline()
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def check_output(text):
    """The ``--output`` folder, checked before any fit: writable, and not a file."""
    if not text.strip():
        raise CommandError("--output is empty; name a folder for the results, for example "
                           "--output sklimb-results.")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise CommandError(f"--output {text!r} is a file, not a folder; choose another path.")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise CommandError(f"--output {text!r} lies under the file {str(existing)!r}; choose "
                           "a folder path.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CommandError(f"--output {text!r}: the folder {str(existing)!r} is not writable.")
    return path


def check_device(device):
    """``--device``, checked before any fit: a torch device this machine has."""
    try:
        _runtime.check_device(device)
    except ValueError as exc:
        raise CommandError(f"--device {device!r}: {exc}") from exc
    return device


def run_compare(args):
    output = check_output(args.output)
    device = check_device(args.device)
    try:
        X, y, description = load_data(args)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    net_params = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    print(f"sklimb compare: {description}, {len(y)} samples, {X.shape[1]} features, "
          f"{len(args.strategies)} strategies x {args.folds} folds x {args.repeats} repeat(s)",
          flush=True)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SmallClassWarning)
            result = compare(X, y, args.strategies, metrics=args.metrics, cv=args.folds,
                             n_repeats=args.repeats, random_state=args.random_state,
                             n_jobs=args.n_jobs, scheduler=args.scheduler,
                             net_params=net_params, device=device, progress=not args.quiet)
    except ComparisonInterrupted as stop:
        return _interrupted(stop, output, args)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    for warning in caught:
        if issubclass(warning.category, SmallClassWarning):
            print(f"sklimb: warning: {warning.message}", file=sys.stderr)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename,
                                 warning.lineno)
    for kind, title in ((THRESHOLD, "threshold metrics (hard predictions)"),
                        (RANKING, "ranking metrics (probabilities)")):
        if kind in set(result.metrics.values()):
            table = result.summary_table(kind)
            print(f"\n{title}, ranked by {table.columns[0]}:")
            print(table.to_string())
            print("\n".join(result.significance_text(kind)[1:]))  # the legend once, below
    print(f"\n{result.significance_legend()}")
    paths = result.save(output, plots=not args.no_plots)
    print(f"\nwrote {len(paths)} files to {output}/ (report: {output / 'report.md'})")
    return 0


def _interrupted(stop, output, args):
    if stop.result is None:
        print("\nsklimb: interrupted before any fit finished; nothing written.",
              file=sys.stderr)
    else:
        paths = stop.result.save(output, plots=not args.no_plots)
        print(f"\nsklimb: interrupted after {stop.n_done} of {stop.n_total} fits; wrote the "
              f"partial result ({len(paths)} files, marked partial) to {output}/.",
              file=sys.stderr)
    return INTERRUPTED


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
    """``--max-epochs``: an integer ``>= 1`` or ``auto``."""
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 or 'auto', got {text!r}")
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
    except KeyboardInterrupt:
        print("\nsklimb: interrupted.", file=sys.stderr)
        return INTERRUPTED


__all__ = ["build_parser", "main"]
