"""tf.keras adapter (Aim's ``aim.tensorflow``): ``from aimcol.tensorflow import AimCallback``."""

from aimcol.integrations.keras_callback import make_callback_class
from aimcol.integrations.run_owner import require

AimCallback = make_callback_class(require("tensorflow.keras.callbacks", "tensorflow", "aimcol.tensorflow").Callback)
AimTracker = AimCallback  # Aim's older name

__all__ = ["AimCallback", "AimTracker"]
