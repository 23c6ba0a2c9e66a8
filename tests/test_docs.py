"""Every default the documentation states is read back from the code's signatures.

The parameter tables of ``docs/estimator.md`` and ``docs/losses.md`` and the loss table of
the estimator guide are parsed and compared with ``inspect.signature``, so a changed default
fails here until the docs say the same.
"""

import ast
import inspect
import re
from pathlib import Path

import pytest

from sklimb import ImbalancedNetClassifier
from sklimb.losses import LOSSES
from sklimb.modules import MLP

DOCS = Path(__file__).resolve().parents[1] / "docs"
ROW = re.compile(r"^\| `([a-z_]+)` \| (`[^|]*`|required)[^|]*\|", re.MULTILINE)
SECTIONS = {  # docs/losses.md section heading -> loss class
    "## Cross-entropy with class weights and label smoothing": LOSSES["ce"],
    "## Focal loss": LOSSES["focal"],
    "## Class-balanced loss (effective number of samples)": LOSSES["class_balanced"],
    "## GHM-C (gradient harmonizing mechanism)": LOSSES["ghm"],
    "## Dice loss (self-adjusting DSC)": LOSSES["dice"],
    "## LDAM (label-distribution-aware margin)": LOSSES["ldam"],
    "## Logit adjustment and balanced softmax": LOSSES["logit_adjusted"],
}


def defaults(factory):
    return {name: p.default for name, p in inspect.signature(factory).parameters.items()
            if p.kind is p.POSITIONAL_OR_KEYWORD or p.kind is p.KEYWORD_ONLY}


def documented(text):
    """``{name: value}`` of every ``| `name` | `value` |`` row (``required`` stays a string)."""
    rows = {}
    for name, cell in ROW.findall(text):
        value = cell.strip("`").split("` for ")[0]  # "`0.75` for GHMCLoss, ..."
        rows[name] = value
    return rows


def same(doc_value, code_value):
    if doc_value == "required":
        return code_value is None or code_value is inspect.Parameter.empty
    if inspect.isclass(code_value):
        return doc_value.rsplit(".", 1)[-1] == code_value.__name__
    try:
        return ast.literal_eval(doc_value) == code_value
    except (ValueError, SyntaxError):
        return False


def section(text, heading):
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:end if end != -1 else None]


def test_estimator_parameter_table_matches_the_signature():
    text = section((DOCS / "estimator.md").read_text(encoding="utf-8"), "## Parameters")
    rows = documented(text)
    code = defaults(ImbalancedNetClassifier)
    code.pop("train_split")  # not a parameter of ours: rejected unless None
    missing = sorted(set(code) - set(rows))
    assert not missing, f"parameters without a row in docs/estimator.md: {missing}"
    wrong = {name: (rows[name], code[name]) for name in code if not same(rows[name], code[name])}
    assert not wrong, f"docs/estimator.md states other defaults than the code: {wrong}"


def test_mlp_table_matches_the_signature():
    text = section((DOCS / "estimator.md").read_text(encoding="utf-8"), "### The default MLP")
    rows = {name.removeprefix("module__"): value for name, value in
            re.findall(r"^\| `(module__[a-z_]+)` \| `([^`]*)` \|", text, re.MULTILINE)}
    code = {k: v for k, v in defaults(MLP).items() if k not in ("n_features", "n_classes")}
    assert set(rows) == set(code)
    assert all(same(rows[name], code[name]) for name in code), (rows, code)


@pytest.mark.parametrize("heading", SECTIONS)
def test_loss_tables_match_the_signatures(heading):
    text = section((DOCS / "losses.md").read_text(encoding="utf-8"), heading)
    rows = documented(text)
    code = defaults(SECTIONS[heading])
    code.pop("reduction")
    assert set(rows) == set(code), (set(rows), set(code))
    wrong = {name: (rows[name], code[name]) for name in code if not same(rows[name], code[name])}
    assert not wrong, f"{heading}: docs state {wrong}"


def test_choosing_the_loss_table_matches_the_signatures():
    text = section((DOCS / "estimator.md").read_text(encoding="utf-8"), "## Choosing the loss")
    checked = 0
    for loss, cells in re.findall(r'^\| `"([a-z_]+)"` \| (.*) \|$', text, re.MULTILINE):
        code = defaults(LOSSES[loss])
        for name, value in re.findall(r"`([a-z_]+)` \(([^)]*)\)", cells):
            assert same(value, code[name]), (loss, name, value, code[name])
            checked += 1
    assert checked >= 10
