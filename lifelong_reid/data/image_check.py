"""Decoding every image of a stream before training, so that a broken file stops a run before its first
experience instead of in the middle of its third.

The rule (what stops a run and what is only counted):

=============================================  =====================================================
stops the run (:class:`ImageReadError`)        counted as a warning, the image is used
=============================================  =====================================================
missing file                                   content of another format than the extension says
zero-byte file                                 (a PNG named ``.jpg``): decoded by its content
not an image (no format PIL recognises)        not RGB (grayscale, CMYK, palette, RGBA, 16-bit):
truncated or corrupt data (full decode fails)  converted to RGB as it is loaded
a decompression bomb (over PIL's pixel limit)  smaller than :data:`TINY` pixels on a side (e.g. 1x1):
                                               resized like any other image
=============================================  =====================================================

Nothing is skipped silently: a file that cannot be decoded is an error naming it (and how many others fail),
because dropping it would change the split a result is reported on.

Images that decoded once are remembered in a cache (SQLite, keyed by absolute path, size and modification
time), so a run over the same data pays the decode once: ``$LREID_CACHE/image_check.sqlite`` (default
``~/.cache/lifelong_reid``).
"""
from __future__ import annotations

import os
import sqlite3
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from PIL import Image, UnidentifiedImageError

from lifelong_reid.errors import ImageReadError

#: Images with a side shorter than this many pixels are counted as ``tiny``.
TINY = 8
#: Warning kinds, with the words the summary uses.
WARNINGS = {"format": "content in another format than the extension says (decoded by content)",
            "mode": "not RGB (converted to RGB)",
            "tiny": f"smaller than {TINY} pixels on a side"}
_EXT_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF",
                ".webp": "WEBP", ".gif": "GIF", ".ppm": "PPM", ".pgm": "PPM", ".pbm": "PPM"}


def default_cache_path() -> Path:
    """``$LREID_CACHE/image_check.sqlite`` (``LREID_CACHE`` defaults to ``~/.cache/lifelong_reid``)."""
    return Path(os.environ.get("LREID_CACHE", Path.home() / ".cache" / "lifelong_reid")) / "image_check.sqlite"


def inspect_image(path: str) -> tuple[Optional[str], tuple[str, ...], tuple[int, int]]:
    """Decode ``path`` fully; returns ``(error, warnings, (width, height))``: ``error`` is ``None`` or why the
    file cannot be used, ``warnings`` a tuple of :data:`WARNINGS` keys, the size ``(0, 0)`` on error."""
    try:
        if os.path.getsize(path) == 0:
            return "empty file (0 bytes)", (), (0, 0)
    except OSError:
        return "file not found", (), (0, 0)
    try:
        with Image.open(path) as img:
            fmt, mode, size = img.format, img.mode, img.size
            img.load()  # the whole pixel data: a truncated JPEG fails here, not at Image.open
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        reason = "not an image" if isinstance(e, UnidentifiedImageError) else f"{type(e).__name__}: {e}"
        return reason, (), (0, 0)
    warnings = []
    expected = _EXT_FORMATS.get(Path(path).suffix.lower())
    if expected is not None and fmt != expected:
        warnings.append("format")
    if mode != "RGB":
        warnings.append("mode")
    if min(size) < TINY:
        warnings.append("tiny")
    return None, tuple(warnings), size


@dataclass
class ImageCheck:
    """What :func:`verify_images` found.

    Attributes:
        total: images looked at. decoded: decoded now (the others were in the cache).
        errors: ``[(path, reason), ...]``. warnings: ``{kind: count}``. examples: ``{kind: first path}``.
        sizes: ``{path: (width, height)}`` of every image that decoded.
    """

    total: int = 0
    decoded: int = 0
    errors: list = field(default_factory=list)
    warnings: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)
    sizes: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line: ``checked N images (M decoded, the rest cached); warnings: ...``."""
        line = f"checked {self.total} images ({self.decoded} decoded, {self.total - self.decoded} cached)"
        if self.warnings:
            line += "; " + "; ".join(f"{n} {WARNINGS[k]}, e.g. {self.examples[k]}"
                                     for k, n in sorted(self.warnings.items()))
        return line

    def first_error(self) -> str:
        """``"PATH: cannot read image (why) (N more files fail the same check)"``, or ``""`` without errors."""
        if not self.errors:
            return ""
        path, reason = self.errors[0]
        more = f" ({len(self.errors) - 1} more files fail the same check)" if len(self.errors) > 1 else ""
        return f"{path}: cannot read image ({reason}){more}"

    def raise_errors(self) -> None:
        """Raises:
            ImageReadError: naming the first file that cannot be used, why, and how many others fail."""
        if self.errors:
            raise ImageReadError(f"{self.first_error()}; replace or remove the file")


class _Cache:
    """Absolute path -> (file size, mtime_ns, warnings, width, height) of images that decoded."""

    def __init__(self, path: Optional[Path]):
        self.db = None
        if path is None:
            return
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(path), timeout=30)
            self.db.execute("CREATE TABLE IF NOT EXISTS decoded (path TEXT PRIMARY KEY, size INTEGER, mtime INTEGER, "
                            "warnings TEXT, width INTEGER, height INTEGER)")
        except (OSError, sqlite3.Error):  # an unwritable cache only costs time
            self.db = None

    def lookup(self, keys: list[tuple[str, int, int]]) -> dict[str, tuple[tuple[str, ...], tuple[int, int]]]:
        if self.db is None or not keys:
            return {}
        found = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            rows = self.db.execute(f"SELECT path, size, mtime, warnings, width, height FROM decoded WHERE path IN "
                                   f"({','.join('?' * len(chunk))})", [k[0] for k in chunk]).fetchall()
            stats = {k[0]: (k[1], k[2]) for k in chunk}
            for path, size, mtime, warnings, width, height in rows:
                if stats[path] == (size, mtime):
                    found[path] = tuple(w for w in warnings.split(",") if w), (width, height)
        return found

    def store(self, rows: list[tuple[str, int, int, str, int, int]]) -> None:
        if self.db is None or not rows:
            return
        try:
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO decoded VALUES (?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.Error:
            pass

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


def _stat(path: str) -> tuple[str, int, int]:
    try:
        st = os.stat(path)
        return os.path.abspath(path), st.st_size, st.st_mtime_ns
    except OSError:
        return os.path.abspath(path), -1, -1


def verify_images(paths: Iterable[str], *, workers: Optional[int] = None, cache: Optional[Path] | str = "default",
                  progress: Optional[bool] = False) -> ImageCheck:
    """Decode every image of ``paths`` (in ``workers`` threads; default ``min(8, cpu count)``), skipping
    those the cache knows unchanged; raises nothing (see :meth:`ImageCheck.raise_errors`).

    Args:
        cache: the SQLite file, ``"default"`` for :func:`default_cache_path`, ``None`` for no cache.
        progress: a tqdm bar on stderr (``None``: when stderr is a terminal).
    """
    from tqdm import tqdm

    paths = list(dict.fromkeys(str(p) for p in paths))
    report = ImageCheck(total=len(paths))
    store = _Cache(default_cache_path() if cache == "default" else cache)
    try:
        keys = [_stat(p) for p in paths]
        known = store.lookup([k for k in keys if k[1] > 0])
        todo = [(p, k) for p, k in zip(paths, keys) if k[0] not in known]
        for p, k in zip(paths, keys):
            if k[0] in known:
                warnings, report.sizes[p] = known[k[0]]
                for w in warnings:
                    report.warnings[w] += 1
                    report.examples.setdefault(w, p)
        workers = workers or min(8, os.cpu_count() or 1)
        fresh = []
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = pool.map(inspect_image, [p for p, _ in todo], chunksize=64)
            bar = tqdm(results, total=len(todo), desc="decoding images", unit="img", leave=False,
                       disable=(not progress) if progress is not None else None)
            for (p, key), (error, warnings, size) in zip(todo, bar):
                report.decoded += 1
                if error is not None:
                    report.errors.append((p, error))
                    continue
                for w in warnings:
                    report.warnings[w] += 1
                    report.examples.setdefault(w, p)
                report.sizes[p] = size
                fresh.append((*key, ",".join(warnings), *size))
        store.store(fresh)
    finally:
        store.close()
    return report


def require_images(paths: Iterable[str], **kwargs) -> ImageCheck:
    """:func:`verify_images`, then raise on the first file that cannot be used.

    Raises:
        ImageReadError: naming the file, why, and how many others fail.
    """
    report = verify_images(paths, **kwargs)
    report.raise_errors()
    return report
