"""Where the fan-out work of a command runs: in this process (``local``) or on a Ray cluster.

``--executor local`` (the default) keeps everything in this process. ``--executor ray`` starts a
private Ray instance on this machine, bound to the loopback interface, with one worker per thread
the command may use; ``--executor ray:HOST:PORT`` (or ``ray:auto``) joins a running cluster
instead. Ray is an optional dependency (``pip install 'drxlab[ray]'``); it is imported only here
and in the modules that ship work to it, and only when the ray executor is chosen.

Example:
    >>> parse_executor("local")
    Executor(kind='local', address=None)
    >>> parse_executor("ray:10.0.0.5:6379")
    Executor(kind='ray', address='10.0.0.5:6379')
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType

from drxlab.exceptions import DrxlabError

ENV = "DRXLAB_EXECUTOR"
INSTALL_HINT = "pip install 'drxlab[ray]'"
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": a single-machine Ray on 127.0.0.1
CONNECT_TIMEOUT_S = 5.0  # a Ray head that does not accept a TCP connection in this time is unreachable


class ExecutorError(DrxlabError):
    """An executor that cannot be used: unknown name, Ray missing, cluster unreachable."""


@dataclass(frozen=True)
class Executor:
    """Where fan-out work runs.

    Attributes:
        kind: ``"local"`` or ``"ray"``.
        address: a Ray cluster to join (``HOST:PORT`` or ``auto``); ``None`` starts a private one.
    """

    kind: str
    address: str | None = None

    @property
    def is_ray(self) -> bool:
        return self.kind == "ray"

    def describe(self) -> str:
        if not self.is_ray:
            return "local"
        return f"ray cluster at {self.address}" if self.address else "ray (private instance on 127.0.0.1)"


LOCAL = Executor("local")


def parse_executor(text: str | None) -> Executor:
    """``local``, ``ray`` or ``ray:ADDRESS`` (``None`` or empty: local)."""
    text = (text or "local").strip()
    if text == "local":
        return LOCAL
    if text == "ray":
        return Executor("ray")
    if text.startswith("ray:") and text[4:].strip():
        return Executor("ray", text[4:].strip())
    raise ExecutorError(
        f"--executor {text!r} is not an executor; expected local, ray (a private Ray instance on this "
        "machine) or ray:HOST:PORT (a running Ray cluster's head, e.g. ray:10.0.0.5:6379)"
    )


def import_ray() -> ModuleType:
    """The ``ray`` module, or an :class:`ExecutorError` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ExecutorError(
            f"--executor ray needs the Ray package, which is not installed ({exc}); install it with "
            f"`{INSTALL_HINT}` or run with --executor local"
        ) from None
    return ray


def _check_reachable(address: str) -> None:
    """Fail fast on a head that does not answer: ``ray.init`` itself retries for minutes."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ExecutorError(
            f"--executor ray:{address}: expected the head's HOST:PORT (e.g. ray:10.0.0.5:6379) or ray:auto"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise ExecutorError(
            f"--executor ray:{address}: no Ray cluster answers there ({exc}); start one with "
            f"`ray start --head --port {port}` on that machine, or run with --executor local"
        ) from None


@contextlib.contextmanager
def ray_session(executor: Executor, num_cpus: int | None = None) -> Iterator[ModuleType]:
    """Ray, initialised for the duration of the block; yields the ``ray`` module.

    A Ray already initialised in this process (a test session, a notebook) is used as it is and
    left running. Otherwise a private instance (``num_cpus`` workers, no dashboard, loopback
    only) is started, or the cluster at ``executor.address`` joined, and shut down afterwards.
    """
    if not executor.address:
        # Ray's node address (and so every server it starts) is loopback only with this set; it
        # must be in the environment before ray is imported (Ray reads it then)
        os.environ.setdefault(LOOPBACK_ENV, "0")
    ray = import_ray()
    if executor.address and executor.address != "auto":
        _check_reachable(executor.address)
    if ray.is_initialized():
        yield ray
        return
    # quiet: Ray's own banner and worker logs would mix with the command's output and --json
    kwargs: dict = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
    if executor.address:
        kwargs["address"] = executor.address
    else:
        kwargs.update(address="local", num_cpus=num_cpus or 1)
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private loopback instance has no other user
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ExecutorError(
            f"--executor {executor.describe()}: Ray could not start or connect: {exc}"
        ) from None
    try:
        yield ray
    finally:
        ray.shutdown()


def worker_count(ray: ModuleType) -> int:
    """CPUs the cluster offers (at least 1): how many chunks are worth running at once."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))
