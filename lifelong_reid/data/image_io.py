"""Opening image files with errors that name the file."""
from __future__ import annotations

from PIL import Image, UnidentifiedImageError

from lifelong_reid.errors import ImageReadError

_READ_ERRORS = (OSError, UnidentifiedImageError, ValueError)


def _read_error(path: str, e: Exception) -> ImageReadError:
    return ImageReadError(f"{path}: cannot read image ({e.__class__.__name__}: {e}); replace or remove the file")


def open_rgb(path: str) -> Image.Image:
    """Open ``path`` as an RGB PIL image.

    Raises:
        ImageReadError: the file is missing, truncated or not an image.
    """
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except _READ_ERRORS as e:
        raise _read_error(path, e) from None

