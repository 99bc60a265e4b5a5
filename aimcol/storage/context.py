"""``Context``: a metric's context dict, at Aim's import path ``aim.storage.context``."""

from aimcol.sdk.sequence import Context

__all__ = ["Context"]
