"""Write measured results into ``docs/benchmarks.md``, between a benchmark's markers.

Each benchmark owns a block of the page delimited by ``<!-- NAME:start -->`` and
``<!-- NAME:end -->``; a run with ``--write`` replaces that block and nothing else,
so the tables in the docs are always ones a script printed.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import os
import platform
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = ROOT / "docs" / "benchmarks.md"


def write_section(name, text, path=BENCHMARKS_MD):
    """Replace the block between ``name``'s markers in ``path`` with ``text``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    page = path.read_text(encoding="utf-8")
    if start not in page or end not in page:
        raise ValueError(f"{path} has no {start} ... {end} block to write into; add the two "
                         "markers where the results belong.")
    head, rest = page.split(start, 1)
    path.write_text(f"{head}{start}\n{text.rstrip()}\n{end}{rest.split(end, 1)[1]}",
                    encoding="utf-8")


def machine():
    """One line saying when and where a measurement was taken."""
    cpu = platform.processor() or platform.machine()
    return (f"{datetime.date.today().isoformat()}, torch {torch.__version__}, "
            f"Python {platform.python_version()}, {cpu}, {os.cpu_count()} cores")


class _Tee(io.TextIOBase):
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self):
        for stream in self.streams:
            stream.flush()


@contextlib.contextmanager
def captured():
    """Print as usual, and collect what was printed in the yielded ``StringIO``."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, buffer)):
        yield buffer


def as_text_block(command, output):
    """``output`` of ``command`` as a paragraph and a fenced block for the docs."""
    return (f"`{command}`, measured {machine()}:\n\n```text\n{output.strip()}\n```\n")
