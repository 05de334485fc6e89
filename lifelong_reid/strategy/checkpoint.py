"""Checkpoint files: written atomically (temporary file, fsync, rename), found again for ``--resume``.

Every file written here gets the permissions an ordinary ``open()`` would give it (``0666`` less the umask,
so ``0644`` usually), not the ``0600`` of the temporary file it is renamed from. A temporary file is named
``.NAME.XXXX.tmp``; one left by a killed process is removed by :func:`remove_orphans` when the next run in
that folder starts.
"""
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

_NAME = re.compile(r"^exp(\d+)_.*?(?:_epoch(\d+))?\.pt$")
_TMP = re.compile(r"^\..+\.[A-Za-z0-9_]+\.tmp$")


def _file_mode() -> int:
    """``0o666`` less the process umask: the mode ``open(path, "w")`` would create."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


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
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_bytes(path, lambda f: f.write(json.dumps(obj, indent=2).encode()))


def remove_orphans(folder: Path) -> list[Path]:
    """Delete the temporary files (``.NAME.XXXX.tmp``) an interrupted :func:`atomic_write_bytes` left in
    ``folder`` and its ``checkpoints`` sub-folder; returns the deleted paths. Call it only when no other
    process writes there (a run refuses a folder that holds another run unless it resumes it)."""
    removed = []
    for d in (Path(folder), Path(folder) / "checkpoints"):
        if not d.is_dir():
            continue
        for p in d.iterdir():
            if p.is_file() and _TMP.match(p.name):
                p.unlink()
                removed.append(p)
    return removed


_PLAIN = (str, int, float, bool, type(None), torch.dtype, torch.device, torch.Size)


def check_plain(state, where: str = "state") -> None:
    """Check that ``state`` holds only what ``torch.load(weights_only=True)`` reads back: tensors, numbers,
    strings, ``None``, and lists / tuples / dicts of them (``OrderedDict`` included).

    Raises:
        CheckpointError: naming the first offending entry (e.g. ``state.plugins.vladr.config``) and its type.
    """
    if torch.is_tensor(state) or isinstance(state, _PLAIN):
        return
    if isinstance(state, dict):
        for k, v in state.items():
            if not isinstance(k, (str, int)):
                raise CheckpointError(f"{where} has a key of type {type(k).__name__}; use str or int keys")
            check_plain(v, f"{where}.{k}")
        return
    if isinstance(state, (list, tuple)):
        for i, v in enumerate(state):
            check_plain(v, f"{where}[{i}]")
        return
    raise CheckpointError(f"{where} is a {type(state).__module__}.{type(state).__name__}; checkpoints hold only "
                          "tensors, numbers, strings and lists / dicts of them (lreid_state_dict must return "
                          "those), so that loading them cannot run code")


def checkpoint_name(index: int, domain: str, epoch: Optional[int] = None) -> str:
    """``exp{index}_{domain}.pt`` (experience ``index``, 1-based, done) or ``exp{index}_{domain}_epoch{epoch}.pt``
    (``epoch`` epochs of it done): the names :func:`checkpoint_progress` reads back."""
    return f"exp{index}_{domain}" + (f"_epoch{epoch}" if epoch is not None else "") + ".pt"


def save_checkpoint(folder: Path, index: int, domain: str, state: dict, epoch: Optional[int] = None) -> Path:
    """Save ``state`` (with ``library_version`` added) atomically as ``folder/exp{index}_{domain}.pt`` when
    experience ``index`` (1-based) is done, or as ``folder/exp{index}_{domain}_epoch{epoch}.pt`` after ``epoch``
    epochs of it.

    Raises:
        CheckpointError: ``state`` holds something :func:`check_plain` refuses (nothing is written).
    """
    from lifelong_reid import __version__

    path = Path(folder) / checkpoint_name(index, domain, epoch)
    state = {**state, "library_version": __version__}
    check_plain(state)
    atomic_write_bytes(path, lambda f: torch.save(state, f))
    return path


def checkpoint_progress(path: Path) -> Optional[tuple[int, int]]:
    """``(experiences done, epochs done in the next one)`` a checkpoint file name stands for, or ``None``
    for another file: ``exp3_duke.pt`` -> ``(3, 0)``; ``exp3_duke_epoch5.pt`` -> ``(2, 5)``."""
    m = _NAME.match(Path(path).name)
    if m is None:
        return None
    index, epoch = int(m.group(1)), m.group(2)
    return (index - 1, int(epoch)) if epoch is not None else (index, 0)


def list_checkpoints(folder: Path) -> list[Path]:
    """The checkpoints in ``folder``, oldest progress first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(progress, p) for p in folder.iterdir() if (progress := checkpoint_progress(p)) is not None]
    return [p for _, p in sorted(found)]


def latest_checkpoint(folder: Path) -> Optional[Path]:
    """The checkpoint with the most progress (experiences, then epochs) in ``folder``, or ``None``."""
    found = list_checkpoints(folder)
    return found[-1] if found else None


def prune_checkpoints(folder: Path, keep: int) -> list[Path]:
    """Delete what the newest checkpoint makes unnecessary; returns the deleted paths.

    Epoch checkpoints (``*_epochN.pt``) other than the newest checkpoint go; of the experience checkpoints, the
    last ``keep`` stay (``0``: all). Call it after the newest checkpoint is written, so a crash in between
    leaves one more file, never one fewer.
    """
    found = list_checkpoints(folder)
    if not found:
        return []
    newest = found[-1]
    partial = [p for p in found[:-1] if checkpoint_progress(p)[1] > 0]
    complete = [p for p in found if checkpoint_progress(p)[1] == 0]
    drop = partial + (complete[:-keep] if keep > 0 else [])
    drop = [p for p in drop if p != newest]
    for p in drop:
        p.unlink(missing_ok=True)
    return drop


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint on the CPU.

    Only tensors and plain containers load (``weights_only=True``): a file holding any other Python object is
    refused without running anything.

    Raises:
        CheckpointError: the file is missing, truncated, or holds other objects (one line naming the file).
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Weights only load failed" in str(e):  # torch's several-line explanation, kept to its gist
            found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
            what = f" ({found.group(1)})" if found else ""
            raise CheckpointError(f"{path}: cannot read checkpoint: it holds a Python object{what} besides tensors "
                                  "and plain containers, which could run code on loading, so it is refused; use "
                                  "checkpoints written by lreid") from None
        raise CheckpointError(f"{path}: cannot read checkpoint ({_one_line(e)}); delete it to resume from the one "
                              "before") from None
    except (OSError, RuntimeError, EOFError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot read checkpoint ({_one_line(e)}); delete it to resume from the one "
                              "before") from None


def _one_line(e: Exception) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= 300 else text[:297] + "..."
