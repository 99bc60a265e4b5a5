"""CatBoost adapter (Aim's ``aim.catboost``): ``from aimcol.catboost import AimLogger``."""

from aimcol.integrations.catboost import AimLogger

__all__ = ["AimLogger"]
