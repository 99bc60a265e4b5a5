"""PyTorch Ignite adapter (Aim's ``aim.pytorch_ignite``): ``from aimcol.pytorch_ignite import AimLogger``."""

from aimcol.integrations.pytorch_ignite import AimLogger, OptimizerParamsHandler, OutputHandler

__all__ = ["AimLogger", "OptimizerParamsHandler", "OutputHandler"]
