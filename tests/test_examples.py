"""Smoke tests: every script in examples/ runs to the end.

The examples read ``SKLIMB_EXAMPLE_EPOCHS`` and train for that many epochs;
two are enough to exercise every code path, so the whole module takes seconds
rather than the half minute an example takes at its default length. Each
script runs in this process (so pytest's warning filters apply to it) with the
global torch RNG state and thread count restored afterwards.
"""

import runpy
from pathlib import Path

import pytest
import torch

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("plot_*.py"))
SMOKE_EPOCHS = "2"


def test_examples_found():
    assert len(EXAMPLES) >= 4, f"expected the example scripts in {EXAMPLES_DIR}"


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs(path, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SKLIMB_EXAMPLE_EPOCHS", SMOKE_EPOCHS)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)  # anything an example writes lands in a temporary folder
    n_threads = torch.get_num_threads()
    try:
        with torch.random.fork_rng():
            runpy.run_path(str(path), run_name="__main__")
    finally:
        torch.set_num_threads(n_threads)
    assert capsys.readouterr().out.strip(), f"{path.name} printed nothing"
