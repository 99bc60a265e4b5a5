"""``aimcol.Image``: an image stored as its encoded bytes (PNG by default, JPEG …) with
caption, format, width, height and mode, as Aim's ``aim.Image``.

Encoding needs Pillow (``pip install 'aimcol[images]'``); reading an image's bytes and
metadata back does not (``to_pil_image()`` does).  Sources as in Aim: NumPy arrays (H×W or
H×W×C), PIL images, file paths, torch tensors (C×H×W) and TensorFlow tensors (H×W×C) when
those are installed (floats are scaled by 255), matplotlib figures.

An array, tensor or PIL image is checked in the constructor (shape, dtype, mode and the save
parameters: the errors encoding would raise, raised there, by encoding its first pixel once
per mode and parameters) and its pixels copied once; the encoding happens later, once: for
the run's object writer thread when tracked (by the encoder process of
:mod:`aimcol.sdk.objects.encoder_process`, as Pillow's PNG encoder holds the GIL), or for the
caller when it asks for the bytes first (``.data``, ``to_pil_image()``, ``==``, pickling).  The bytes are those encoding in the constructor gave.  File paths,
animated images and matplotlib figures are encoded in the constructor.
"""

from __future__ import annotations

import logging
import os
from io import BytesIO
from itertools import chain, repeat
from typing import Any

import numpy as np

from aimcol.sdk.objects.encoder_process import ENCODER
from aimcol.sdk.objects.media import DeferredBytes, MediaObject, has_type_name

logger = logging.getLogger(__name__)


def require_pillow(what: str):
    """The ``PIL.Image`` module, or an ``ImportError`` naming the extra to install."""
    try:
        from PIL import Image as PILImage
    except ImportError:
        raise ImportError(f"{what} needs Pillow: pip install 'aimcol[images]'") from None
    return PILImage


class Image(MediaObject):
    """An image: ``Image(array_or_pil_or_path, caption="", format=None, quality=90, optimize=False)``.

    ``format``, ``quality`` and ``optimize`` go to Pillow's ``save()``; the format defaults
    to the PIL image's own, else PNG.  Raises ``TypeError`` for an unsupported source,
    ``ValueError`` for an array that is not 2- or 3-D or a path that is not a file.
    """

    aim_typename = "aim.image"
    AIM_NAME = "aim.image"
    DEFAULT_IMG_FORMAT = "png"
    FLAG_WARN_RGBA_RGB = False
    _meta_keys = ("caption", "format", "width", "height")

    def __init__(self, image: Any, caption: str = "", format: str | None = None, quality: int = 90, optimize=False):
        super().__init__()
        params = {"format": format, "quality": quality, "optimize": optimize}
        if isinstance(image, (str, os.PathLike)):
            self._from_file_path(os.fspath(image), params)
        elif has_type_name(image, "PIL", "Image"):
            self._from_pil_image(image, params, deferred=True)
        elif has_type_name(image, "torch", "Tensor"):
            self._from_torch_tensor(image, params)
        elif has_type_name(image, "tensorflow", "Tensor"):
            self._from_tf_tensor(image, params)
        elif isinstance(image, np.ndarray):
            self._from_numpy_array(image, params)
        elif has_type_name(image, "matplotlib", "Figure"):
            self._from_matplotlib_figure(image, params)
        else:
            raise TypeError(f"Cannot convert to aim.Image. Unsupported type {type(image)}.")
        self.caption = caption

    @classmethod
    def from_encoded(
        cls, data: bytes, *, format: str, width: int, height: int, mode: str | None = None, caption: str = ""
    ) -> Image:
        """An image from bytes already encoded (a TensorBoard summary's PNG), kept byte for byte:
        no Pillow, no re-encode.  The caller vouches for ``format``, ``width`` and ``height``;
        ``TypeError`` for data that is not bytes, ``ValueError`` for a non-positive size."""
        if not isinstance(data, bytes):
            raise TypeError(f"Image.from_encoded() takes bytes, got {type(data).__name__}")
        if isinstance(width, bool) or isinstance(height, bool) or not (int(width) > 0 and int(height) > 0):
            raise ValueError(f"Image.from_encoded() needs a positive width and height, got {width}x{height}")
        image = cls.__new__(cls)
        MediaObject.__init__(image)
        image._blob = data
        fmt = format.lower()
        image._meta.update(
            source="encoded", mode=mode, format="jpeg" if fmt == "jpg" else fmt, width=int(width), height=int(height)
        )
        image.caption = caption
        return image

    # -- metadata ----------------------------------------------------------------------------
    @property
    def caption(self) -> str:
        return self._meta["caption"]

    @caption.setter
    def caption(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"Image caption must be a str, got {type(value).__name__}")
        self._meta["caption"] = value

    @property
    def format(self) -> str:
        return self._meta["format"]

    @property
    def width(self) -> int:
        return self._meta["width"]

    @property
    def height(self) -> int:
        return self._meta["height"]

    @property
    def size(self) -> tuple[int, int]:
        return self._meta["width"], self._meta["height"]

    @property
    def mode(self) -> str | None:
        return self._meta.get("mode")

    @property
    def data(self) -> bytes:
        """The encoded image (read from the repository on first use)."""
        return self._blob_bytes()

    def to_pil_image(self):
        """The image decoded by Pillow."""
        pil_image = require_pillow("Image.to_pil_image()").open(BytesIO(self.data))
        if pil_image.size != self.size:
            raise ValueError(f"stored image is {pil_image.size}, its metadata says {self.size}")
        return pil_image

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Image):
            return False
        keys = ("mode", "format", "width", "height")
        return all(self._meta.get(k) == other._meta.get(k) for k in keys) and self.data == other.data

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Image {self.width}x{self.height} {self.format} caption={self.caption!r}>"

    # -- sources -------------------------------------------------------------------------------
    def _from_pil_image(self, pil_image, params: dict, deferred: bool = False) -> None:
        """Check ``pil_image`` and the save parameters now; encode now, or (``deferred``) keep a
        copy of the pixels and encode them when first asked (by the run's writer thread)."""
        pil = require_pillow("aimcol.Image")
        if not isinstance(pil_image, pil.Image):
            raise TypeError(f"Cannot convert to aim.Image. Unsupported type {type(pil_image)}.")
        params = dict(params, format=_save_format(params["format"] or pil_image.format))
        if getattr(pil_image, "n_frames", 1) > 1:  # animated: keep every frame (encoded now)
            from PIL import ImageSequence

            container = BytesIO()
            frames = ImageSequence.all_frames(pil_image)
            frames[0].save(container, save_all=True, append_images=frames[1:], **params)
            self._blob, mode = container.getvalue(), pil_image.mode
        elif deferred and _deferrable(pil_image.size):
            mode = _checked_mode(pil_image, params)  # what encoding would raise, raised now
            pixels = pil_image.copy()  # the one copy of the pixels the caller pays
            self._deferred = DeferredBytes(lambda: _encode_pil(pixels, params, mode), _pixel_bytes(pixels))
        else:
            self._blob, mode = _encode_still(pil_image, params)
        self._set_meta(mode, params["format"], pil_image.size)

    def _set_meta(self, mode: str, fmt: str, size: tuple[int, int]) -> None:
        self._meta.update(source="PIL.Image", mode=mode, format=fmt, width=size[0], height=size[1])

    def _from_file_path(self, path: str, params: dict) -> None:
        if not os.path.isfile(path):
            raise ValueError(f"Invalid image file path: {path}")
        with require_pillow("aimcol.Image").open(path) as pil_image:
            pil_image.load()
            self._from_pil_image(pil_image, params)

    def _from_numpy_array(self, array: np.ndarray, params: dict) -> None:
        if array.ndim not in (2, 3):
            raise ValueError(f"Cannot convert to aim.Image. array must have 2/3-D shape, got {array.shape}.")
        pil = require_pillow("aimcol.Image")
        if array.ndim == 3 and array.shape[2] == 1:  # greyscale
            array = array[:, :, 0]
        size = (array.shape[1], array.shape[0])
        if not _deferrable(size):
            self._from_pil_image(_pil_from_array(pil, array), params)
            return
        params = dict(params, format=_save_format(params["format"]))
        source_mode = _array_mode(pil, array)
        mode = _CHECKED_MODES.get(_mode_key(source_mode, params)) if source_mode else None
        if mode is None:
            probe = _pil_from_array(pil, array[:1, :1])  # its mode, or Pillow's TypeError, from one pixel
            source_mode, mode = probe.mode, _checked_mode(probe, params)  # what encoding raises, raised now
        pixels = np.array(array, copy=True, order="C")  # the one copy of the pixels the caller pays
        as_is = source_mode == mode  # else flattened for JPEG
        self._deferred = DeferredBytes(lambda: _encode_array(pil, pixels, params, as_is), pixels.nbytes)
        self._set_meta(mode, params["format"], size)

    def _from_torch_tensor(self, tensor, params: dict) -> None:
        if tensor.ndim not in (2, 3):
            raise ValueError("Cannot convert to aim.Image. Tensor must have 2/3-D shape.")
        if tensor.is_floating_point():
            tensor = tensor.mul(255).byte()
        array = tensor.detach().cpu().numpy()
        if array.ndim == 3:  # channels, height, width -> height, width, channels
            array = array[0] if array.shape[0] == 1 else np.transpose(array, (1, 2, 0))
        self._from_numpy_array(array, params)  # copied there, C-contiguous

    def _from_tf_tensor(self, tensor, params: dict) -> None:
        import tensorflow as tf

        if tensor.ndim not in (2, 3):
            raise ValueError("Cannot convert to aim.Image. Tensor must have 2/3-D shape.")
        if tensor.dtype.is_floating:
            tensor = tf.cast(tf.math.scalar_mul(255.0, tensor), tf.uint8)
        self._from_numpy_array(tensor.numpy(), params)

    def _from_matplotlib_figure(self, figure, params: dict) -> None:
        buffer = BytesIO()
        figure.savefig(buffer, format="png")
        buffer.seek(0)
        with require_pillow("aimcol.Image").open(buffer) as pil_image:
            pil_image.load()
            self._from_pil_image(pil_image, params)


def _save_format(fmt: str | None) -> str:
    """The format Pillow is asked to save: lower case, ``jpg`` as ``jpeg``, PNG by default."""
    fmt = (fmt or Image.DEFAULT_IMG_FORMAT).lower()
    return "jpeg" if fmt == "jpg" else fmt  # Pillow knows JPEG, not JPG


def _deferrable(size: tuple[int, int]) -> bool:
    """Whether an image of ``size`` may be encoded later: every error its encoding can raise is
    then one the encoding of its first pixel raises too (so it is raised at construction)."""
    return 0 < min(size) and max(size) <= 16383  # the smallest limit of Pillow's writers (WebP)


def _pixel_bytes(pil_image) -> int:
    """About what a PIL image's pixels hold (Pillow keeps at most 4 bytes a pixel)."""
    return pil_image.size[0] * pil_image.size[1] * 4


def _encode_still(pil_image, params: dict) -> tuple[bytes, str]:
    """``pil_image`` saved with ``params`` and the mode saved (JPEG cannot hold alpha or a
    palette: such an image is flattened onto white and saved as RGB, as Aim does)."""
    container = BytesIO()
    try:
        pil_image.save(container, **params)
    except OSError:
        if pil_image.mode not in ("RGBA", "LA", "PA", "P"):
            raise
        if not Image.FLAG_WARN_RGBA_RGB:
            logger.warning("cannot save mode %r as %s; converting to RGB", pil_image.mode, params["format"])
            Image.FLAG_WARN_RGBA_RGB = True
        pil = require_pillow("aimcol.Image")
        alpha = pil_image.convert("RGBA").split()[-1]
        background = pil.new("RGBA", pil_image.size, (255, 255, 255, 255))
        background.paste(pil_image, mask=alpha)
        pil_image = background.convert("RGB")
        container = BytesIO()
        pil_image.save(container, **params)
    return container.getvalue(), pil_image.mode


def _pil_from_array(pil, array: np.ndarray):
    try:
        return pil.fromarray(array)
    except TypeError as exc:
        raise TypeError(
            f"Cannot convert to aim.Image: array of dtype {array.dtype}, shape {array.shape}: {exc}"
        ) from None


def _encode_array(pil, pixels: np.ndarray, params: dict, as_is: bool) -> bytes:
    """``pil.fromarray(pixels)`` encoded: by the encoder process when it can (``as_is``: saved
    in its own mode, not flattened for JPEG), else here."""
    if as_is:
        header = {"kind": "array", "dtype": pixels.dtype.str, "shape": list(pixels.shape), "params": params}
        data = ENCODER.encode(header, pixels.reshape(-1).view(np.uint8))
        if data is not None:
            return data
    return _encode_still(pil.fromarray(pixels), params)[0]


def _encode_pil(pil_image, params: dict, mode: str) -> bytes:
    """A PIL image (the caller's copy) encoded: by the encoder process when it can, else here."""
    if pil_image.mode == mode and pil_image.mode not in ("P", "PA") and not pil_image.info:
        header = {"kind": "raw", "mode": pil_image.mode, "size": list(pil_image.size), "params": params}
        data = ENCODER.encode(header, pil_image.tobytes())
        if data is not None:
            return data
    return _encode_still(pil_image, params)[0]


def _array_mode(pil, array: np.ndarray) -> str | None:
    """The mode ``pil.fromarray(array)`` gives, from Pillow's table (None: not there; ask Pillow)."""
    typemap = getattr(pil, "_fromarray_typemap", None)
    hit = typemap.get(((1, 1) + array.shape[2:], array.dtype.str)) if isinstance(typemap, dict) else None
    return hit[0] if hit else None


def _mode_key(mode: str, params: dict) -> tuple:
    return (mode, *sorted((k, repr(v)) for k, v in params.items()))


_CHECKED_MODES: dict[tuple, str] = {}
"""(mode, save parameters) -> the mode saved, for the combinations already encoded once."""


def _checked_mode(pil_image, params: dict) -> str:
    """The mode ``pil_image`` is saved in with ``params``, found by encoding its first pixel
    (once per mode and parameters: an error of the format, quality … is raised here)."""
    key = None
    if not pil_image.info and pil_image.mode != "P":  # else the metadata or palette may matter
        key = _mode_key(pil_image.mode, params)
        mode = _CHECKED_MODES.get(key)
        if mode is not None:
            return mode
    mode = _encode_still(pil_image.crop((0, 0, 1, 1)), params)[1]
    if key is not None:
        _CHECKED_MODES[key] = mode
    return mode


def convert_to_aim_image_list(images, labels=None) -> list[Image]:
    """Aim's helper: ``Image`` objects for a batch of images, captioned with ``labels``."""
    labels_it = chain(labels, repeat("")) if labels is not None else repeat("")
    return [Image(img, lbl if isinstance(lbl, str) else str(lbl.item())) for img, lbl in zip(images, labels_it)]
