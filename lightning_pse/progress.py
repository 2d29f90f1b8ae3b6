"""Progress of long work, shown where someone is watching and silent everywhere else.

Three pieces, joined by context variables so that no function has to pass a flag down:

- ``showing(mode)`` turns progress on for the work inside it: ``"bars"`` (tqdm bars on stderr, for a
  terminal) or ``"lines"`` (for logs and ``--quiet``: one line per finished stage and, while a stage
  runs, a heartbeat line every ``heartbeat_seconds()`` — the stage, its units done of its total, the
  time elapsed and left, and the attack running with its step — so a log shows the work is alive). Outside it —
  training's inner attacks, a callback on a rank other than 0, library calls — nothing is shown.
- ``stage(name, total, unit)`` is one stage of the work (an analysis section over its probe batches,
  a callback's measurement, dissection's passes): a bar in ``bars`` mode, heartbeats and one line
  when it ends in ``lines`` mode. Stages nest; a nested stage's bar sits under its parent's and
  disappears when done (in ``lines`` mode its name goes into the outer stage's heartbeat).
- ``attack_task(description, budget)`` is one attack on one batch; the attacks call ``step_done()``
  once per gradient step (or query), so its bar advances step by step, restart by restart and target
  by target, with tqdm's estimate of the time left. ``budget`` is the attack's most steps
  (``Attack.budget``): an attack that stops early closes its bar before the end.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from tqdm import tqdm

MODES = ("bars", "lines")

_MODE: ContextVar[str | None] = ContextVar("lightning_pse_progress_mode", default=None)
_DEPTH: ContextVar[int] = ContextVar("lightning_pse_progress_depth", default=0)
_STEP: ContextVar[Callable[[int], object] | None] = ContextVar("lightning_pse_progress_step", default=None)
_HEARTBEAT: ContextVar[_Heartbeat | None] = ContextVar("lightning_pse_progress_heartbeat", default=None)

HEARTBEAT_SECONDS = 30.0  # between two heartbeat lines in ``lines`` mode (env LIGHTNING_PSE_HEARTBEAT_SECONDS)


def heartbeat_seconds() -> float:
    """Seconds between heartbeat lines: ``LIGHTNING_PSE_HEARTBEAT_SECONDS`` when set, else ``HEARTBEAT_SECONDS``."""
    return float(os.environ.get("LIGHTNING_PSE_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS))


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


class _Heartbeat(_Silent):
    """The outermost stage's progress in ``lines`` mode: counts its units and, from a daemon thread,
    prints one line every ``interval`` seconds while the stage runs (``stop()`` ends it), e.g.
    ``robustness: 3/8 batches, 2 min 05 s so far, about 3 min 30 s left (now: PGD(...) on 64 images, step 12/20)``."""

    def __init__(self, name: str, total: int | None, unit: str, interval: float) -> None:
        self.name, self.total, self.unit = name, total, unit
        self.done, self.started = 0, time.perf_counter()
        self.activity: str | None = None  # the nested stage or attack running now
        self.steps: tuple[int, int] | None = None  # that attack's (steps done, budget)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat_every, args=(interval,), daemon=True)
        self._thread.start()

    def update(self, n: int = 1) -> None:
        self.done += n

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _beat_every(self, interval: float) -> None:
        while not self._stopped.wait(interval):
            print(self.line(), file=sys.stderr, flush=True)

    def line(self) -> str:
        """The heartbeat line as things stand."""
        elapsed = time.perf_counter() - self.started
        units = self.unit + ("es" if self.unit.endswith(("ch", "sh", "s", "x")) else "s")
        counted = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        line = f"{self.name}: {counted} {units}, {format_duration(elapsed)} so far"
        if self.total and self.done:
            line += f", about {format_duration(elapsed / self.done * (self.total - self.done))} left"
        activity, steps = self.activity, self.steps
        if activity:
            line += f" (now: {activity}" + (f", step {steps[0]}/{steps[1]})" if steps else ")")
        return line


@contextmanager
def stage(name: str, total: int | None, unit: str = "batch") -> Iterator[tqdm | _Silent | _Heartbeat]:
    """One stage of ``total`` units; yields its bar (``update(n)`` after each unit). In ``lines``
    mode an outermost stage prints a heartbeat line every ``heartbeat_seconds()`` while it runs
    (``_Heartbeat``) and ``name: done in T`` when it ends (not when it fails); a nested stage names
    itself in them."""
    mode, depth = _MODE.get(), _DEPTH.get()
    started = time.perf_counter()
    token = _DEPTH.set(depth + 1)
    outer = _HEARTBEAT.get()
    if mode == "bars":
        bar = tqdm(total=total, desc=name, unit=unit, leave=depth == 0, dynamic_ncols=True, file=sys.stderr)
    elif mode == "lines" and outer is None:
        bar = _Heartbeat(name, total, unit, heartbeat_seconds())
    else:
        bar = _Silent()
    heartbeat = _HEARTBEAT.set(bar if isinstance(bar, _Heartbeat) else outer)
    if outer is not None:
        enclosing = outer.activity, outer.steps  # the nested stage this one runs in, if any
        outer.activity, outer.steps = name, None
    try:
        yield bar
    finally:
        _DEPTH.reset(token)
        _HEARTBEAT.reset(heartbeat)
        if outer is not None:
            outer.activity, outer.steps = enclosing
        if isinstance(bar, _Heartbeat):
            bar.stop()
        elif not isinstance(bar, _Silent):
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
    """One attack run of at most ``budget`` steps: a bar under the current stage in ``bars`` mode,
    named with its step in the heartbeat lines in ``lines`` mode; ``step_done()`` inside advances it."""
    heartbeat = _HEARTBEAT.get() if _MODE.get() == "lines" else None
    if heartbeat is not None:
        with stage(description, budget, unit="step"):
            heartbeat.steps = (0, budget)

            def advance(n: int) -> None:
                heartbeat.steps = (heartbeat.steps[0] + n, budget)

            token = _STEP.set(advance)
            try:
                yield
            finally:
                _STEP.reset(token)
        return
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
