"""Where and how a fit runs: the device check, and the process state a fit sets and restores
(torch threads, subnormal floats, the RNG)."""

from __future__ import annotations

import contextlib
import threading

import torch


@contextlib.contextmanager
def torch_threads(n_threads):
    """Run the block with ``torch.set_num_threads(n_threads)`` (``None``: unchanged)."""
    if n_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n_threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def flushed_subnormals():
    """Run the block with subnormal floats treated as zero (the CPU's flush-to-zero and
    denormals-are-zero modes, ``torch.set_flush_denormal``), then restore the mode.

    Late in training, small gradients make AdamW's second moments and the
    activations of saturated units subnormal (below ``1.2e-38`` in float32), and the
    CPU computes with subnormals many times slower than with normal numbers: with a
    saturating loss (dice, LDAM) a fit took 1.4x as long (benchmarks/bench_fit.py).
    Values that small change no prediction. The mode is a setting of the calling
    thread; it is restored only if it was off before the block.
    """
    was_on = torch.tensor([1e-40]).mul_(1.0).item() == 0.0  # a subnormal read as zero
    switched = not was_on and torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if switched:
            torch.set_flush_denormal(False)


_SEEDED_LOCK = threading.RLock()


@contextlib.contextmanager
def seeded(seed, device):
    """Seed torch inside the block and restore the global RNG state afterwards.

    Weight initialisation and dropout draw from torch's process-wide
    generator, so seeded fits running in threads of one process (a threaded
    Dask worker, joblib's threading backend) would interleave their draws.
    Seeded blocks therefore hold a process-wide lock: threads take turns,
    separate processes still run in parallel. ``seed=None`` leaves the global
    generators alone and takes no lock (non-reproducible fits).
    """
    if seed is None:
        yield
        return
    devices = []
    if str(device).startswith("cuda") and torch.cuda.is_available():
        devices = [torch.device(device).index or 0]
    with _SEEDED_LOCK, torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def check_device(device):
    """Raise a ``ValueError`` naming ``device`` if torch cannot parse or use it."""
    if device is None:
        return
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device ({exc}); use 'cpu', "
                         "'cuda', 'cuda:0', ...") from exc
    available = {"cpu": lambda: True, "cuda": torch.cuda.is_available,
                 "mps": lambda: torch.backends.mps.is_available(),
                 "meta": lambda: True}.get(kind, lambda: False)
    if not available():
        raise ValueError(f"device={device!r}: no {kind} device is available on this "
                         "machine; use device='cpu'.")
    if kind == "cuda":
        index = torch.device(device).index
        if index is not None and index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r}: this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s).")
