"""Progress of long work, shown where someone is watching and silent everywhere else.

Three pieces, joined by context variables so that no function has to pass a flag down:

- ``showing(mode)`` turns progress on for the work inside it: ``"bars"`` (tqdm bars on stderr, for a
  terminal) or ``"lines"`` (one line per finished stage, for logs and ``--quiet``). Outside it —
  training's inner attacks, a callback on a rank other than 0, library calls — nothing is shown.
- ``stage(name, total, unit)`` is one stage of the work (an analysis section over its probe batches,
  a callback's measurement, dissection's passes): a bar in ``bars`` mode, one line when it ends in
  ``lines`` mode. Stages nest; a nested stage's bar sits under its parent's and disappears when done.
- ``attack_task(description, budget)`` is one attack on one batch; the attacks call ``step_done()``
  once per gradient step (or query), so its bar advances step by step, restart by restart and target
  by target, with tqdm's estimate of the time left. ``budget`` is the attack's most steps
  (``Attack.budget``): an attack that stops early closes its bar before the end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from tqdm import tqdm

MODES = ("bars", "lines")

_MODE: ContextVar[str | None] = ContextVar("lightning_pse_progress_mode", default=None)
_DEPTH: ContextVar[int] = ContextVar("lightning_pse_progress_depth", default=0)
_STEP: ContextVar[Callable[[int], object] | None] = ContextVar("lightning_pse_progress_step", default=None)


def default_mode() -> str:
    """``bars`` when stderr is a terminal, else ``lines`` (a log file gets no carriage returns)."""
    return "bars" if sys.stderr.isatty() else "lines"


def resolve_mode(mode: str) -> str:
    """``auto`` (``default_mode()``), ``bars`` or ``lines``; anything else is a ``ValueError``."""
    if mode == "auto":
        return default_mode()
    if mode not in MODES:
        raise ValueError(f"unknown progress mode {mode!r}; use auto, {' or '.join(MODES)}")
    return mode


@contextmanager
def showing(mode: str | None) -> Iterator[None]:
    """Show progress of the work inside in ``mode`` (``bars``, ``lines``, ``auto``: ``resolve_mode``;
    ``None``: nothing)."""
    token = _MODE.set(None if mode is None else resolve_mode(mode))
    try:
        yield
    finally:
        _MODE.reset(token)


def format_duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class _Silent:
    """The bar of a stage nobody sees: ``update`` does nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass


@contextmanager
def stage(name: str, total: int | None, unit: str = "batch") -> Iterator[tqdm | _Silent]:
    """One stage of ``total`` units; yields its bar (``update(n)`` after each unit). In ``lines``
    mode an outermost stage prints ``name: done in T`` when it ends (not when it fails)."""
    mode, depth = _MODE.get(), _DEPTH.get()
    started = time.perf_counter()
    token = _DEPTH.set(depth + 1)
    bar = (
        tqdm(total=total, desc=name, unit=unit, leave=depth == 0, dynamic_ncols=True, file=sys.stderr)
        if mode == "bars"
        else _Silent()
    )
    try:
        yield bar
    finally:
        _DEPTH.reset(token)
        if not isinstance(bar, _Silent):
            bar.close()
    if mode == "lines" and depth == 0:
        print(f"{name}: done in {format_duration(time.perf_counter() - started)}", file=sys.stderr, flush=True)


def tracked(items: Iterable, name: str, unit: str = "batch") -> Iterator:
    """``items`` one by one inside a ``stage`` named ``name`` whose bar advances per item."""
    with stage(name, len(items) if hasattr(items, "__len__") else None, unit) as bar:
        for item in items:
            yield item
            bar.update()


@contextmanager
def attack_task(description: str, budget: int) -> Iterator[None]:
    """One attack run of at most ``budget`` steps: a bar under the current stage in ``bars`` mode;
    ``step_done()`` inside advances it."""
    if _MODE.get() != "bars":
        yield
        return
    with stage(description, budget, unit="step") as bar:
        token = _STEP.set(bar.update)
        try:
            yield
        finally:
            _STEP.reset(token)


def step_done(n: int = 1) -> None:
    """Called by the attacks after each gradient step (or query): advances the current attack's bar."""
    advance = _STEP.get()
    if advance is not None:
        advance(n)
