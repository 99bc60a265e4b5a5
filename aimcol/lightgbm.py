"""LightGBM adapter (Aim's ``aim.lightgbm``): ``from aimcol.lightgbm import AimCallback``."""

from aimcol.integrations.lightgbm import AimCallback

__all__ = ["AimCallback"]
