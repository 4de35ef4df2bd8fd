"""Options shared by several commands."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from drxlab.chem.constants import STANDARD_RATE, STANDARD_WINDOW
from drxlab.executors import ENV as EXECUTOR_ENV
from drxlab.executors import parse_executor
from drxlab.threads import ENV, use_threads


def threads_option(needed: Callable[[dict[str, Any]], bool] | None = None) -> Callable:
    """Add ``--threads N`` (env ``DRXLAB_THREADS``) to a command that runs the model, and give
    torch its threads once before the command's body runs.

    ``needed(kwargs)`` says whether this invocation runs the model at all (``log`` only with
    ``--finetune``); when it does not, torch is neither imported nor configured.
    """

    def decorate(f: Callable) -> Callable:
        @click.option(
            "--threads",
            type=click.IntRange(min=1),
            default=None,
            envvar=ENV,
            show_envvar=True,
            help="CPU threads for the model [default: one per core other processes leave free].",
        )
        @functools.wraps(f)
        def run(*args: Any, threads: int | None, **kwargs: Any) -> Any:
            if needed is None or needed(kwargs):
                use_threads(threads)
            return f(*args, **kwargs)

        return run

    return decorate


def executor_option(f: Callable) -> Callable:
    """``--executor local|ray|ray:ADDRESS`` (env ``DRXLAB_EXECUTOR``), passed on as an
    :class:`~drxlab.executors.Executor` named ``executor``."""
    return click.option(
        "--executor",
        default="local",
        show_default=True,
        envvar=EXECUTOR_ENV,
        show_envvar=True,
        metavar="local|ray[:ADDRESS]",
        callback=lambda ctx, param, value: parse_executor(value),
        help="Where the work runs: here (local), on a private Ray instance on this machine (ray), or on "
        "a running Ray cluster (ray:HOST:PORT). Ray: pip install 'drxlab[ray]'.",
    )(f)


def test_conditions(f: Callable) -> Callable:
    """``--rate`` (mA/g) and ``--window V_LOW V_HIGH`` (V), defaulting to the standard test."""
    f = click.option(
        "--window",
        type=float,
        nargs=2,
        default=STANDARD_WINDOW,
        show_default=True,
        metavar="V_LOW V_HIGH",
        help="Voltage window, V.",
    )(f)
    return click.option(
        "--rate", type=float, default=STANDARD_RATE, show_default=True, help="Current density, mA/g."
    )(f)
