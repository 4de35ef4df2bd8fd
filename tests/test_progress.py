"""The one progress display: plain lines at least every interval off a terminal, a tqdm bar on
one, nothing when disabled; driven by a fake clock."""

from __future__ import annotations

import io

import pytest

from drxlab.progress import ProgressBar


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_come_at_least_every_interval_even_while_one_unit_runs_long(monkeypatch) -> None:
    monkeypatch.delenv("DRXLAB_PROGRESS", raising=False)
    clock, out = Clock(), io.StringIO()
    bar = ProgressBar("training", 10, "epoch", stream=out, clock=clock, watch=False)
    times = []
    # epochs of uneven length, the fifth one 23 s long; the watcher ticks every second
    for epoch_s in (1, 1, 2, 3, 23, 1, 1, 1, 1, 1):
        for _ in range(epoch_s):
            clock.t += 1
            before = out.getvalue().count("\n")
            bar.tick()
            if out.getvalue().count("\n") > before:
                times.append(clock.t)
        bar({"loss": 0.25})
    bar.close()
    lines = out.getvalue().splitlines()
    assert lines[-1].strip().startswith("training: done in")
    gaps = [b - a for a, b in zip([0.0, *times], times)]
    assert max(gaps) <= 5 and clock.t - times[-1] <= 5
    assert any("ETA" in ln and "/10 epoch" in ln and "loss 0.25" in ln for ln in lines)


def test_short_steps_print_nothing_and_quiet_prints_nothing(monkeypatch) -> None:
    monkeypatch.delenv("DRXLAB_PROGRESS", raising=False)
    clock, out = Clock(), io.StringIO()
    with ProgressBar("screening", stream=out, clock=clock, watch=False) as bar:
        clock.t = 4.0
        bar.update(20_000)
    assert out.getvalue() == ""
    out = Tty()
    with ProgressBar("training", 4, enabled=False, stream=out, clock=clock, watch=False) as bar:
        clock.t = 60.0
        bar({})
        bar.tick()
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    ("env", "tty", "mode"),
    [
        (None, True, "bar"),
        (None, False, "lines"),
        ("lines", True, "lines"),
        ("off", True, "off"),
        ("bar", False, "bar"),
        ("nonsense", False, "lines"),
    ],
)
def test_mode_follows_the_stream_and_drxlab_progress(
    monkeypatch, env: str | None, tty: bool, mode: str
) -> None:
    if env is None:
        monkeypatch.delenv("DRXLAB_PROGRESS", raising=False)
    else:
        monkeypatch.setenv("DRXLAB_PROGRESS", env)
    out = Tty() if tty else io.StringIO()
    with ProgressBar("x", 3, stream=out, watch=False) as bar:
        assert bar.mode == mode
        bar.update(3)
    if mode == "bar":
        assert "3/3" in out.getvalue()


def test_background_watcher_keeps_lines_coming(monkeypatch) -> None:
    monkeypatch.delenv("DRXLAB_PROGRESS", raising=False)
    out = io.StringIO()
    import time

    with ProgressBar("fine-tuning", 5, "epoch", stream=out, interval=0.2):
        time.sleep(0.9)  # one long unit: nothing calls the bar
    assert out.getvalue().count("fine-tuning: 0/5 epoch") >= 2
