"""Downloading the DRXNet authors' released files (checkpoints, example data), sha256-checked.

One helper for every released file: the bytes are checked against the pinned sha256 before
anyone writes them, so a truncated or tampered download never reaches the store or a cache.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request

from drxlab.exceptions import DrxlabError

# the authors' repository at the commit whose files drxlab pins (README of ../shared/drxnet-upstream)
RELEASED_REPO_URL = (
    "https://raw.githubusercontent.com/zhongpc/DRXNet/c5fba7be2c312a32f9b809d4babe9df55bdfc790"
)


def download_verified(
    url: str,
    sha256: str,
    *,
    what: str,
    error: type[DrxlabError] = DrxlabError,
    offline_hint: str = "",
    nothing: str = "nothing written",
    timeout: float = 60.0,
) -> bytes:
    """The bytes at ``url`` after checking them against ``sha256``; raises ``error`` otherwise.

    Args:
        url: http(s) or file URL.
        sha256: the expected hex digest.
        what: the file's name in messages, e.g. ``"model_3"``.
        error: the :class:`DrxlabError` subclass to raise.
        offline_hint: what to do without network, appended to a download failure.
        nothing: what was not done, appended to a hash mismatch (e.g. "nothing registered").
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            data = resp.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()  # an HTTP error carries the open response
        reason = getattr(exc, "reason", exc)
        raise error(
            f"cannot download {url}: {reason}; check the network"
            + (f", {offline_hint}" if offline_hint else ""),
            option="base_url",
            option_use="to download from another address",
        ) from None
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise error(
            f"{url}: sha256 {got[:16]}… does not match the released {what} ({sha256[:16]}…); {nothing}"
        )
    return data
