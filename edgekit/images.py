"""Reading one image file as the uint8 array a model's data set is made of.

Shared by training (``edgekit.data``) and the device (``edgekit.runtime``), so a photo on the
Pi becomes exactly the array the model learned from. Pillow is imported only here, on use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def load_image(path: Path, size: list[int] | None, color: str) -> np.ndarray:
    """One image as uint8 HxWxC, converted and resized as the recipe says."""
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DataError("reading images needs Pillow", hint="pip install 'edgekit-tflite[images]', or pass .npy arrays") from exc
    try:
        with Image.open(path) as image:
            image = image.convert("L" if color == "grayscale" else "RGB")
            if size:
                image = image.resize((size[1], size[0]), Image.BILINEAR)
            array = np.asarray(image, dtype=np.uint8)
    except OSError as exc:
        raise DataError(f"{path}: cannot read image: {exc}") from exc
    return array[..., None] if array.ndim == 2 else array
