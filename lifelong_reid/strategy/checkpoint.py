"""Checkpoint files: written atomically (temporary file, fsync, rename), found again for ``--resume``."""
from __future__ import annotations

import json
import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Optional

import torch

from lifelong_reid.errors import CheckpointError

_NAME = re.compile(r"^exp(\d+)_.*\.pt$")


def atomic_write_bytes(path: Path, write) -> None:
    """Call ``write(fileobj)`` on a temporary file next to ``path``, fsync it, then rename it over ``path``:
    a crash leaves either the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_bytes(path, lambda f: f.write(json.dumps(obj, indent=2).encode()))


def save_checkpoint(folder: Path, index: int, domain: str, state: dict) -> Path:
    """Save ``state`` as ``folder/exp{index}_{domain}.pt`` (``index`` = experiences done), atomically."""
    path = Path(folder) / f"exp{index}_{domain}.pt"
    atomic_write_bytes(path, lambda f: torch.save(state, f))
    return path


def latest_checkpoint(folder: Path) -> Optional[Path]:
    """The checkpoint with the most experiences done in ``folder``, or ``None``."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return max(found)[1] if found else None


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint on the CPU.

    Raises:
        CheckpointError: the file is missing or unreadable.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot read checkpoint ({e}); delete it to resume from the one "
                              "before") from None
