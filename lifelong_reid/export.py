"""Exporting a trained model for deployment: ONNX (run by onnxruntime), TorchScript, or a ``torch.export``
program, with a parity check against PyTorch.

The exported graph is the *inference model*: images ``(B, 3, H, W)`` (or ``(B, M, 3, H, W)`` tuples) in the
evaluation transform's normalisation, out the retrieval feature ``(B, F)`` that ``lreid eval`` ranks with,
i.e. the model's output plus whatever plugins add to it (``lreid_inference_embedding``, vision hooks). Plugins
run while the graph is traced; a module one of them adds that the exporter cannot convert is named in the
error.

``onnx`` and ``onnxruntime`` come with the ``export`` extra: ``pip install 'lifelong-reid[export]'``.
"""
from __future__ import annotations

import contextlib
import io
import re
import time
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

from lifelong_reid.data.batch import ReIDBatch
from lifelong_reid.errors import LReIDError

FORMATS = ("onnx", "torchscript", "torch-export")


class ExportError(LReIDError):
    """The model (or a plugin's module in it) cannot be exported in the requested format."""


class RetrievalModule(nn.Module):
    """The strategy's model as a plain ``images -> retrieval features`` module.

    Args:
        strategy: a loaded strategy (:func:`~lifelong_reid.inference.load_strategy`), whose plugins stay active.
        modality: the modality every exported input is (``"rgb"``; ``"ir"`` for an infrared camera of a
            visible-infrared model; ``"multi"`` for tuples).
    """

    def __init__(self, strategy, modality: str = "rgb"):
        super().__init__()
        self.model, self.pm, self.modality = strategy.model, strategy.pm, modality

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        b = images.shape[0]
        none = torch.zeros(b, dtype=torch.long, device=images.device)
        batch = ReIDBatch(images=images, targets=none - 1, pids=none, camids=none, indices=none,
                          domain=["export"] * b, modality=[self.modality] * b)
        out = self.model(images, batch)
        return self.pm.hook.lreid_inference_embedding(outputs=out, model=self.model)


def example_images(strategy, count: int = 16, seed: int = 0) -> torch.Tensor:
    """``(count, 3, H, W)`` synthetic people at the model's image size, through the evaluation transform
    (the inputs the exported model expects)."""
    from lifelong_reid.data.transforms import build_transforms
    from lifelong_reid.synthetic import synthetic_domain

    domain = synthetic_domain("export-check", seed, num_train_ids=0, num_test_ids=max(2, count // 4),
                              num_cameras=2, images_per_camera=2)
    _, eval_tf = build_transforms(tuple(strategy.config.image_size))
    samples = (domain.query + domain.gallery)[:count]
    return torch.stack([eval_tf(domain.image_loader(s)) for s in samples])


def folder_images(strategy, folder: str | Path, count: int = 16) -> torch.Tensor:
    """The first ``count`` images of ``folder`` through the evaluation transform."""
    from lifelong_reid.data.image_io import open_rgb
    from lifelong_reid.data.transforms import build_transforms
    from lifelong_reid.inference import list_images

    _, eval_tf = build_transforms(tuple(strategy.config.image_size))
    return torch.stack([eval_tf(open_rgb(str(p))) for p in list_images(folder)[:count]])


def _unsupported(e: Exception) -> str:
    """The operator (or module) an exporter names in ``e``, when it names one."""
    text = str(e)
    for pattern in (r"operator '([\w:.]+)'", r"ONNX export of operator ([\w:.]+)", r"[Uu]nsupported[^\n]*?operator[: ]+'?([\w:.]+)",
                    r"aten::(\w+)", r"Could not export ([\w.]+)"):
        m = re.search(pattern, text)
        if m:
            return m.group(1)
    return ""


def _plugin_modules(strategy) -> list[str]:
    """The outermost modules of the strategy's model that a fresh model of its config lacks (what plugins
    added), e.g. ``["visual.firm_vspf", "firm_prompts"]``."""
    from lifelong_reid.models import build_model

    fresh = {n for n, _ in build_model(strategy.config).named_modules()}
    added = sorted(n for n, _ in strategy.model.named_modules()
                   if n and n not in fresh and not n.startswith("classifier"))
    return [n for n in added if not any(n.startswith(p + ".") for p in added)]


def export_model(strategy, output: str | Path, fmt: str = "onnx", *, example: Optional[torch.Tensor] = None,
                 opset: Optional[int] = None, dynamic_batch: bool = True, modality: str = "rgb") -> Path:
    """Export the strategy's retrieval model to ``output``.

    Args:
        fmt: ``"onnx"`` (``torch.onnx.export``, the TorchScript-based exporter, which keeps the batch dimension
            dynamic with ``dynamic_batch``), ``"torchscript"`` (``torch.jit.trace``, batch dynamic) or
            ``"torch-export"`` (``torch.export.export`` saved as ``.pt2``; its batch size is ``example``'s).
        example: example input ``(B, ...)``; default :func:`example_images`.
        opset: ONNX opset (default: the exporter's).

    Raises:
        ExportError: unknown format, a missing ``onnx`` package, or an operator / plugin module the exporter
            cannot convert (named).
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; formats: {', '.join(FORMATS)}")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    strategy.model.eval()
    module = RetrievalModule(strategy, modality).eval()
    example = example if example is not None else example_images(strategy, 4)
    example = example.to(next(strategy.model.parameters()).device)
    try:
        # not under no_grad: in eval mode without autograd, nn.MultiheadAttention takes its fused fast path
        # (aten::_native_multi_head_attention), which has no ONNX form
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")  # tracer warnings; the exporter's graph dump on failure
            if fmt == "onnx":
                try:
                    import onnx  # noqa: F401
                except ImportError:
                    raise ExportError("ONNX export needs the onnx package: pip install 'lifelong-reid[export]'") from None
                dyn = {"images": {0: "batch"}, "features": {0: "batch"}} if dynamic_batch else None
                torch.onnx.export(module, (example,), str(output), input_names=["images"], output_names=["features"],
                                  dynamic_axes=dyn, opset_version=opset, dynamo=False)
            elif fmt == "torchscript":
                torch.jit.trace(module, (example,), check_trace=False).save(str(output))
            else:  # the batch size is that of ``example`` (the per-sample lists of a batch fix it)
                program = torch.export.export(module, (example,), strict=False)
                torch.export.save(program, str(output))
    except ExportError:
        raise
    except Exception as e:
        op = _unsupported(e)
        plugins = ", ".join(_plugin_modules(strategy)) or "none"
        what = f"operator {op}" if op else f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
        raise ExportError(f"cannot export to {fmt}: {what} (plugin modules in the model: {plugins}); try another "
                          "--format") from None
    return output


def load_exported(path: str | Path, fmt: str):
    """A callable ``(B, ...) float32 numpy array -> (B, F) numpy array`` running an exported file."""
    if fmt == "onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            raise ExportError("the parity check runs onnxruntime: pip install 'lifelong-reid[export]'") from None
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]
    if fmt == "torchscript":
        with warnings.catch_warnings():  # torch.jit is deprecated in favour of torch.export; still supported
            warnings.simplefilter("ignore", FutureWarning)
            scripted = torch.jit.load(str(path), map_location="cpu")
        return lambda x: scripted(torch.from_numpy(x)).detach().numpy()
    program = torch.export.load(str(path)).module()
    return lambda x: program(torch.from_numpy(x)).detach().numpy()


def _normalise(f: np.ndarray) -> np.ndarray:
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


def check_parity(strategy, path: str | Path, fmt: str, images: torch.Tensor, top: int = 10,
                 modality: str = "rgb", rounds: int = 3) -> dict:
    """Run the exported file and PyTorch on ``images`` (on the CPU).

    Returns:
        ``{"max_abs_diff": max |f_export - f_torch| of the L2-normalised features, "top_k_equal": whether the
        first half of the images, ranked against the second half by cosine, get the same top-``top`` lists,
        "exported_images_per_s", "torch_images_per_s" (best of ``rounds``), "size_mb": file size}``.
    """
    strategy.model.cpu().eval()
    module = RetrievalModule(strategy, modality).eval()
    run = load_exported(path, fmt)
    x = images.cpu().float()
    with torch.no_grad():
        want = module(x).numpy()
    got = run(x.numpy())
    a, b = _normalise(got), _normalise(want)
    half = len(a) // 2
    k = min(top, len(a) - half)
    ranks_a = np.argsort(-a[:half] @ a[half:].T, axis=1, kind="stable")[:, :k]
    ranks_b = np.argsort(-b[:half] @ b[half:].T, axis=1, kind="stable")[:, :k]

    def best(fn) -> float:
        fn()  # warm-up (allocations, onnxruntime's first-run optimisation)
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return len(x) / min(times)

    with torch.no_grad():
        torch_rate = best(lambda: module(x))
    return {"max_abs_diff": float(np.abs(a - b).max()), "top_k_equal": bool((ranks_a == ranks_b).all()),
            "top_k": k, "images": len(x), "exported_images_per_s": best(lambda: run(x.numpy())),
            "torch_images_per_s": torch_rate, "size_mb": Path(path).stat().st_size / 1e6}
