"""Progress of long steps (training, fine-tuning, screening, imports, simulations, the demo).

There is one convention. Work reports through a :data:`Progress` callable, called with a dict
per unit of work done (keys all optional: ``advance`` units done since the last call, default
1; ``total`` units in all; ``loss`` and other scalars are shown beside the count). Commands show
it with one :class:`ProgressBar` on stderr, never on stdout, so ``--json`` output stays clean:

- on a terminal, a tqdm bar with ETA, redrawn every second even while one unit runs long;
- otherwise (a log file, a pipe, CI), a plain line at least every :data:`LINE_INTERVAL_S`
  seconds once a step has run that long (short steps print nothing);
- nothing with ``--quiet``, or with ``DRXLAB_PROGRESS=off``.

``DRXLAB_PROGRESS`` (``auto`` | ``bar`` | ``lines`` | ``off``) overrides the choice, e.g. to
get lines in a terminal multiplexer's log.

Example:
    >>> with ProgressBar("training", total=10, unit="epoch", enabled=False) as bar:
    ...     for epoch in range(10):
    ...         bar({"loss": 0.1})
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Self, TextIO

Progress = Callable[[dict[str, Any]], None]
LINE_INTERVAL_S = 5.0
_LAST_LINE = [time.monotonic()]  # when this process last wrote a progress line (any bar)
MODES = ("auto", "bar", "lines", "off")


def _mode(stream: TextIO) -> str:
    mode = os.environ.get("DRXLAB_PROGRESS", "auto").strip().lower() or "auto"
    if mode not in MODES:
        mode = "auto"
    if mode == "auto":
        isatty = getattr(stream, "isatty", None)
        return "bar" if isatty is not None and isatty() else "lines"
    return mode


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class ProgressBar:
    """One long step's progress on stderr; a :data:`Progress` callable and a context manager.

    Args:
        desc: what is running, e.g. ``"training"``.
        total: units in all, if known (else a count and the elapsed time are shown).
        unit: the unit's name, e.g. ``"epoch"``.
        enabled: False shows nothing (``--quiet``).
        stream: where to write [default: stderr].
        interval: seconds between plain lines at most, and before the first one.
        clock: seconds since an arbitrary origin (a fake one in tests).
        watch: run a background thread that keeps the display alive while one unit of work
            runs long (tests driving ``clock`` call :meth:`tick` themselves).
    """

    def __init__(
        self,
        desc: str,
        total: int | None = None,
        unit: str = "it",
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        interval: float = LINE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        watch: bool = True,
    ) -> None:
        self.desc, self.total, self.unit = desc, total, unit
        self.n = 0
        self.info: dict[str, Any] = {}
        self.stream = stream if stream is not None else sys.stderr
        self.mode = _mode(self.stream) if enabled else "off"
        self.interval, self.clock = interval, clock
        self.start = self.last_line = clock()
        self.lines = 0
        self._lock = threading.Lock()
        self._bar = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(
                total=total, desc=desc, unit=unit, file=self.stream, leave=False, dynamic_ncols=True
            )
        # steps that each end within the interval must not add up to a long silence: a step
        # starting after a quiet spell says so at once
        real_time = clock is time.monotonic  # a test's fake clock keeps its own account
        if self.mode == "lines" and real_time and time.monotonic() - _LAST_LINE[0] >= interval:
            with self._lock:
                self._write(f"{desc}: started")
        if self.mode != "off" and watch:
            self._thread = threading.Thread(target=self._watch, name=f"progress:{desc}", daemon=True)
            self._thread.start()

    def __call__(self, info: dict[str, Any] | None = None) -> None:
        """Record ``info.get("advance", 1)`` units done; ``total`` and scalars update the display."""
        info = dict(info or {})
        advance = int(info.pop("advance", 1))
        with self._lock:
            total = info.pop("total", None)
            if total and total != self.total:
                self.total = int(total)
                if self._bar is not None:
                    self._bar.total = self.total
            self.n += advance
            self.info.update({k: v for k, v in info.items() if isinstance(v, (int, float))})
            if self._bar is not None:
                if "loss" in self.info:
                    self._bar.set_postfix(loss=f"{self.info['loss']:.3g}", refresh=False)
                self._bar.update(advance)
        self.tick()

    def update(self, n: int = 1) -> None:
        """``n`` units done (for callbacks that report a count, like tqdm's ``update``)."""
        self({"advance": n})

    def step(self, *_args: Any) -> None:
        """One unit done (for callbacks that pass something else, e.g. the file just read)."""
        self({})

    def tick(self) -> None:
        """Keep the display alive: a plain line when ``interval`` passed since the last one."""
        if self.mode == "lines":
            with self._lock:
                now = self.clock()
                if now - self.last_line >= self.interval:
                    self._write(self.status(now))
                    self.last_line = now
        else:
            bar = self._bar
            if bar is not None:
                bar.refresh()

    def status(self, now: float | None = None) -> str:
        """The plain line: count, share, elapsed time, ETA and the latest loss."""
        elapsed = (self.clock() if now is None else now) - self.start
        if self.total:
            text = (
                f"{self.desc}: {self.n}/{self.total} {self.unit} ({self.n / self.total:.0%}), "
                f"{_duration(elapsed)} elapsed"
            )
            if 0 < self.n < self.total:
                text += f", ETA {_duration(elapsed * (self.total - self.n) / self.n)}"
        else:
            text = (
                f"{self.desc}: {self.n} {self.unit}, {_duration(elapsed)} elapsed"
                if self.n
                else f"{self.desc}: {_duration(elapsed)} elapsed"
            )
        if "loss" in self.info:
            text += f", loss {self.info['loss']:.3g}"
        return text

    def close(self) -> None:
        """Stop the display; a step that printed lines ends with one saying it is done."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            if self.mode == "lines" and self.lines:
                self._write(f"{self.desc}: done in {_duration(self.clock() - self.start)}")
            self.mode = "off"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _write(self, text: str) -> None:
        self.lines += 1
        self.last_line = self.clock()
        _LAST_LINE[0] = time.monotonic()
        try:
            self.stream.write(f"  {text}\n")
            self.stream.flush()
        except (OSError, ValueError):  # the stream went away (closed pipe): progress is not worth a crash
            self.mode = "off"

    def _watch(self) -> None:
        while not self._stop.wait(min(1.0, self.interval / 2)):
            self.tick()


def bars(enabled: bool = True) -> Callable[..., ProgressBar]:
    """A factory ``(desc, total=None, unit="it") -> ProgressBar`` for workflows with many steps."""

    def make(desc: str, total: int | None = None, unit: str = "it") -> ProgressBar:
        return ProgressBar(desc, total, unit, enabled=enabled)

    return make


def silent(desc: str, total: int | None = None, unit: str = "it") -> ProgressBar:
    """A bar that shows nothing (the default of library functions)."""
    return ProgressBar(desc, total, unit, enabled=False)
