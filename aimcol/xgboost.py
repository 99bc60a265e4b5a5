"""XGBoost adapter (Aim's ``aim.xgboost``): ``from aimcol.xgboost import AimCallback``."""

from aimcol.integrations.xgboost import AimCallback

__all__ = ["AimCallback"]
