"""PyTorch Lightning adapter (Aim's ``aim.pytorch_lightning``): ``from aimcol.pytorch_lightning import AimLogger``."""

from aimcol.integrations.pytorch_lightning import AimLogger

__all__ = ["AimLogger"]
