"""Opening image files with errors that name the file."""
from __future__ import annotations

from PIL import Image, UnidentifiedImageError

from lifelong_reid.errors import ImageReadError


def open_rgb(path: str) -> Image.Image:
    """Open ``path`` as an RGB PIL image.

    Raises:
        ImageReadError: the file is missing, truncated or not an image.
    """
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise ImageReadError(f"{path}: cannot read image ({e.__class__.__name__}: {e}); "
                             "replace or remove the file") from None


def check_readable(paths, limit: int | None = None) -> None:
    """Open the header of each file (cheap) so that a broken file stops a run before training.

    Raises:
        ImageReadError: naming the first file that cannot be opened.
    """
    for i, path in enumerate(paths):
        if limit is not None and i >= limit:
            break
        try:
            with Image.open(path) as img:
                img.size  # noqa: B018 - header parsed by open()
        except (OSError, UnidentifiedImageError, ValueError) as e:
            raise ImageReadError(f"{path}: cannot read image ({e.__class__.__name__}: {e}); "
                                 "replace or remove the file") from None
