"""Reading one image file as the uint8 array a model's data set is made of.

Shared by training (``edgekit.data.load``) and the device (``edgekit.runtime``), so a photo on the
Pi becomes exactly the array the model learned from. Pillow is imported only here, on use.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from edgekit.errors import DataError

__all__ = ["IMAGE_SUFFIXES", "load_image"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def load_image(path: Path, size: list[int] | None, color: str) -> np.ndarray:
    """One image as uint8 HxWxC, converted and resized as the recipe says.

    The pixel count is checked from the header before anything is decoded
    (``edgekit.runtime.limits``); Pillow's own decompression-bomb check is a one-line error too.
    """
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DataError("reading images needs Pillow", hint="pip install 'edgekit-tflite[images]', or pass .npy arrays") from exc
    from edgekit.runtime.limits import check_image_size

    try:
        with warnings.catch_warnings():  # edgekit's own budget decides; Pillow's hard limit stays
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            check_image_size(path, *image.size)
            image = image.convert("L" if color == "grayscale" else "RGB")
            if size:
                image = image.resize((size[1], size[0]), Image.BILINEAR)
            array = np.asarray(image, dtype=np.uint8)
    except Image.DecompressionBombError as exc:
        raise DataError(f"{path}: refused as a possible decompression bomb ({exc})", hint="resize it first") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read image: {exc}") from exc
    return array[..., None] if array.ndim == 2 else array
