"""fastai adapter (Aim's ``aim.fastai``): ``from aimcol.fastai import AimCallback``."""

from aimcol.integrations.fastai import AimCallback

__all__ = ["AimCallback"]
