"""Creating open_clip models by name, with pretrained tags or local weights, and clear errors offline."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import open_clip

from lifelong_reid.errors import ModelLoadError

log = logging.getLogger(__name__)
CONFIG_DIR = Path(__file__).parent / "configs"
_registered = False


def _register_bundled_configs() -> None:
    global _registered
    if not _registered:
        open_clip.add_model_config(CONFIG_DIR)
        _registered = True


def bundled_models() -> list[str]:
    """Names of the model configs shipped with lifelong_reid (tiny models for tests and demos)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def create_clip(model: str, pretrained: Optional[str] = None, weights: Optional[str] = None):
    """Create an open_clip CLIP model and its tokenizer.

    Args:
        model: open_clip model name (``"ViT-B-16"``) or a bundled config (see :func:`bundled_models`).
        pretrained: open_clip pretrained tag, e.g. ``"openai"``; ``None`` leaves weights random.
        weights: path to a local weights file (an OpenAI ``.pt`` or an open_clip checkpoint); overrides
            ``pretrained``.

    Returns:
        ``(clip_model, tokenizer)``.

    Raises:
        ModelLoadError: unknown model name, unknown pretrained tag, a missing weights file, or weights
            that cannot be downloaded (no network).
    """
    _register_bundled_configs()
    if model not in open_clip.list_models():
        close = [m for m in open_clip.list_models() if m.lower().startswith(model.lower()[:5])][:8]
        raise ModelLoadError(
            f"unknown model name {model!r}; use an open_clip name such as 'ViT-B-16' "
            f"({', '.join(close) or 'see open_clip.list_models()'}) or a bundled one "
            f"({', '.join(bundled_models())})")
    quick_gelu = (pretrained or "").lower() == "openai"
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ModelLoadError(f"weights file {path} does not exist; set weights to a CLIP checkpoint "
                                 f"(e.g. the OpenAI {model}.pt) or use pretrained='openai' with a network")
        source = str(path)
        quick_gelu = True if pretrained is None or pretrained == "openai" else quick_gelu
    elif pretrained:
        tags = open_clip.list_pretrained_tags_by_model(model)
        if pretrained not in tags:
            raise ModelLoadError(f"unknown pretrained tag {pretrained!r} for {model}; available: "
                                 f"{', '.join(tags) or 'none (use pretrained=None or weights=PATH)'}")
        try:
            source = open_clip.download_pretrained(open_clip.get_pretrained_cfg(model, pretrained))
        except Exception as e:  # network errors come in many classes (requests, urllib, huggingface_hub)
            raise ModelLoadError(
                f"cannot download the {pretrained!r} weights of {model} ({e.__class__.__name__}); this machine "
                f"seems offline. Download them where there is a network (open_clip caches them under "
                f"~/.cache/huggingface or ~/.cache/clip) and copy them here, or pass a local file with "
                f"--set weights=/path/to/{model}.pt") from None
    else:
        source = None
    try:
        clip_model = open_clip.create_model(model, pretrained=source, force_quick_gelu=quick_gelu)
    except (RuntimeError, KeyError, OSError, ValueError) as e:
        raise ModelLoadError(f"cannot load weights {source} into {model}: {e}") from None
    tokenizer = open_clip.get_tokenizer(model)
    log.info("created %s (pretrained=%s)", model, source or "random")
    return clip_model, tokenizer
