"""Hugging Face Transformers adapter (Aim's ``aim.hugging_face``): ``from aimcol.hugging_face import AimCallback``."""

from aimcol.integrations.hugging_face import AimCallback

__all__ = ["AimCallback"]
