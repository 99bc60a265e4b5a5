"""NumPy array types the engine's signatures use (for the type checker; no runtime cost)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
KindArray = npt.NDArray[np.uint8]
ObjArray = npt.NDArray[np.object_]
AnyArray = npt.NDArray[Any]
