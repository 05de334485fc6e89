"""Loading Hugging Face ``transformers`` models for the data-preparation commands (``lreid caption``,
``lreid ground``) with one clear error when the package or the weights are missing."""
from __future__ import annotations

from lifelong_reid.errors import ModelLoadError


def load_processor_and_model(processor_class: str, model_class: str, name_or_path: str, what: str,
                             device: str = "cpu"):
    """``(processor, model)`` from ``transformers`` classes named ``processor_class`` / ``model_class``, the model
    in eval mode on ``device``.

    Raises:
        ModelLoadError: ``transformers`` is not installed, or the weights cannot be found (offline and not
            cached, or a wrong local path); the message names ``what`` and says what to do.
    """
    try:
        import transformers
    except ImportError:
        raise ModelLoadError(f"{what} needs transformers: pip install 'lifelong-reid[caption]'") from None
    try:
        processor = getattr(transformers, processor_class).from_pretrained(name_or_path)
        model = getattr(transformers, model_class).from_pretrained(name_or_path)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"cannot load {what} {name_or_path!r} ({str(e).splitlines()[0]}); without a network, "
                             "pass --model PATH to a folder saved with save_pretrained") from None
    return processor, model.to(device).eval()
