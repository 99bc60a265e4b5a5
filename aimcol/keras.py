"""Keras 3 adapter (Aim's ``aim.keras``): ``from aimcol.keras import AimCallback``."""

from aimcol.integrations.keras_callback import make_callback_class
from aimcol.integrations.run_owner import require

AimCallback = make_callback_class(require("keras.callbacks", "keras", "aimcol.keras").Callback)
AimTracker = AimCallback  # Aim's older name

__all__ = ["AimCallback", "AimTracker"]
