"""Optuna adapter (Aim's ``aim.optuna``): ``from aimcol.optuna import AimCallback``."""

from aimcol.integrations.optuna import AimCallback

__all__ = ["AimCallback"]
