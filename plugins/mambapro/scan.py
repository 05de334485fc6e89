"""The selective scan of Mamba (Gu & Dao 2023, Alg. 2; MambaPro Sec. 3.4 uses it through
``mamba_ssm.selective_scan_fn``), on any device.

Shapes (``mamba_ssm``'s convention): ``Bt`` batch, ``D`` channels, ``L`` sequence length, ``N`` state size.

    h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t        (zero-order hold of A, Euler step of B)
    y_t = C_t . h_t + D * u_t,   then   y_t * silu(z_t)            (when a gate ``z`` is given)

Backends: ``mamba_ssm``'s fused CUDA kernel when it is installed and the tensors are on CUDA; otherwise
``mambapy``'s parallel (Blelloch) scan in pure PyTorch, which runs on CPU, CUDA and MPS and differentiates
through autograd. :func:`scan_backend` says which one a call takes.
"""
from __future__ import annotations

import importlib.util
from typing import Optional

import torch
import torch.nn.functional as F

from lifelong_reid.errors import ConfigError

#: The backends :func:`selective_scan` accepts (``"auto"`` picks the kernel when it can).
BACKENDS = ("auto", "kernel", "torch")


def kernel_available() -> bool:
    """Whether ``mamba_ssm`` (the fused CUDA kernel) is importable."""
    return importlib.util.find_spec("mamba_ssm") is not None


def scan_backend(u: torch.Tensor, backend: str = "auto") -> str:
    """``"kernel"`` or ``"torch"``: what :func:`selective_scan` runs for input ``u``.

    Raises:
        ConfigError: an unknown backend, or ``"kernel"`` without ``mamba_ssm`` or off CUDA.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"scan backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "torch":
        return "torch"
    usable = u.is_cuda and kernel_available()
    if backend == "kernel" and not usable:
        raise ConfigError("the mamba_ssm kernel needs CUDA tensors and `pip install mamba-ssm causal-conv1d`; "
                          "use backend 'auto' or 'torch' (mambapy's PyTorch scan) elsewhere")
    return "kernel" if usable else "torch"


def selective_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                   D: Optional[torch.Tensor] = None, z: Optional[torch.Tensor] = None,
                   delta_bias: Optional[torch.Tensor] = None, delta_softplus: bool = False,
                   backend: str = "auto") -> torch.Tensor:
    """The selective scan (module docstring), with ``mamba_ssm.selective_scan_fn``'s arguments.

    Args:
        u: ``(Bt, D, L)`` input. delta: ``(Bt, D, L)`` step sizes (before ``delta_bias`` / softplus).
        A: ``(D, N)`` state matrix (diagonal per channel, real). B, C: ``(Bt, N, L)`` input-dependent.
        D: ``(D,)`` skip. z: ``(Bt, D, L)`` gate. delta_bias: ``(D,)``. delta_softplus: softplus on delta.
        backend: see :data:`BACKENDS`.

    Returns:
        ``(Bt, D, L)`` in ``u``'s dtype (computed in float32 on the PyTorch path).

    Raises:
        ConfigError: see :func:`scan_backend`. ValueError: mismatched shapes.
    """
    bt, d, length = u.shape
    if delta.shape != u.shape or A.shape[0] != d or B.shape != (bt, A.shape[1], length) or C.shape != B.shape:
        raise ValueError(f"selective_scan shapes: u {tuple(u.shape)}, delta {tuple(delta.shape)}, A {tuple(A.shape)}, "
                         f"B {tuple(B.shape)}, C {tuple(C.shape)}; expected u, delta (Bt, D, L), A (D, N), B, C "
                         "(Bt, N, L)")
    if scan_backend(u, backend) == "kernel":
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

        return selective_scan_fn(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    from mambapy.pscan import pscan

    dtype = u.dtype
    u, delta, A, B, C = (t.float() for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.float()[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    dt = delta.transpose(1, 2)  # (Bt, L, D)
    decay = torch.exp(dt.unsqueeze(-1) * A)  # (Bt, L, D, N)
    drive = (dt * u.transpose(1, 2)).unsqueeze(-1) * B.transpose(1, 2).unsqueeze(2)  # (Bt, L, D, N)
    h = pscan(decay, drive)  # (Bt, L, D, N): h_t = decay_t * h_{t-1} + drive_t
    y = torch.einsum("bldn,bnl->bdl", h, C)
    if D is not None:
        y = y + u * D.float()[:, None]
    if z is not None:
        y = y * F.silu(z.float())
    return y.to(dtype)
