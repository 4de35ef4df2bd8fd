"""drxlab — an active-learning lab assistant for disordered-rocksalt (DRX) cathodes."""

from __future__ import annotations

__version__ = "0.1.0"
