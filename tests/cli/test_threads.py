"""Thread choice for a shared machine: one torch thread per core other processes leave free."""

from __future__ import annotations

import pytest

from drxlab import threads
from drxlab.threads import choose_threads, decide


@pytest.mark.parametrize(
    ("cores", "busy", "expected"),
    [
        (2, 0.0, 2),
        (2, 0.3, 2),
        (2, 0.6, 1),
        (2, 1.0, 1),
        (2, 1.4, 1),
        (2, 2.0, 1),
        (2, 7.5, 1),
        (16, 0.0, 16),
        (16, 3.4, 13),
        (16, 3.6, 12),
        (1, 0.0, 1),
    ],
)
def test_free_cores_decide_the_threads(cores: int, busy: float, expected: int) -> None:
    assert choose_threads(None, cores=cores, busy=busy) == expected


def test_an_explicit_count_wins_over_the_load() -> None:
    assert choose_threads(4, cores=2, busy=2.0) == 4
    assert choose_threads(1, cores=16, busy=0.0) == 1


def test_decide_uses_the_measured_load_unless_told(monkeypatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads, "busy_cores", lambda interval=0.2: 1.0)  # one competing CPU-bound process
    c = decide()
    assert (c.threads, c.source, c.busy) == (1, "free cores", 1.0)
    monkeypatch.setattr(threads, "busy_cores", lambda interval=0.2: 0.05)
    assert decide().threads == 2
    assert decide(3).threads == 3 and decide(3).source == "--threads"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert decide().threads == 1 and decide().source == "OMP_NUM_THREADS"


def test_busy_cores_sees_a_busy_loop() -> None:
    from drxlab.workflow.bench import start_load, stop_load

    procs = start_load(1, max_seconds=30)
    try:
        busy = threads.busy_cores(0.5)
    finally:
        stop_load(procs)
    assert busy >= 0.7  # the loop alone keeps one core busy (other processes may add more)


def test_threads_option_reaches_torch_on_heavy_commands_only(run, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr("drxlab.cli.options.use_threads", lambda n: calls.append(n))
    run("predict", "--threads", "3", "Li1.2Mn0.4Ti0.4O2")  # fails (no model), after choosing threads
    monkeypatch.setenv("DRXLAB_THREADS", "2")
    run("log", "--failed", "--sample", "1")  # no --finetune: runs no model
    run("finetune")
    assert calls == [3, 2]
