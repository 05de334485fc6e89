"""MambaPro's selective scan: the PyTorch path (mambapy's parallel scan) equals a sequential reference scan
written here, in values and gradients, at lengths that are and are not powers of two; the fused kernel equals
it where mamba_ssm and CUDA exist."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lifelong_reid.errors import ConfigError
from lifelong_reid.plugins.mambapro.scan import kernel_available, scan_backend, selective_scan


def reference_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t; y_t = C_t h_t + D u_t; y * silu(z): one step at a time."""
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    bt, d, length = u.shape
    h = u.new_zeros(bt, d, A.shape[1])
    ys = []
    for t in range(length):
        h = torch.exp(delta[:, :, t, None] * A) * h + delta[:, :, t, None] * B[:, None, :, t] * u[:, :, t, None]
        ys.append((h * C[:, None, :, t]).sum(-1))
    y = torch.stack(ys, dim=-1)
    if D is not None:
        y = y + u * D[:, None]
    return y * F.silu(z) if z is not None else y


def inputs(length, bt=2, d=6, n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    return dict(u=r(bt, d, length), delta=r(bt, d, length) * 0.5, A=-torch.exp(r(d, n)), B=r(bt, n, length),
                C=r(bt, n, length), D=r(d), z=r(bt, d, length), delta_bias=r(d) * 0.1)


@pytest.mark.parametrize("length", [1, 7, 16, 130])
def test_the_parallel_scan_equals_the_sequential_reference(length):
    x = inputs(length)
    got = selective_scan(**x, delta_softplus=True, backend="torch")
    ref = reference_scan(**x, delta_softplus=True).float()
    assert got.shape == (2, 6, length) and got.dtype == torch.float64
    assert torch.allclose(got, ref.to(got.dtype), atol=1e-5, rtol=1e-5)
    plain = selective_scan(x["u"], x["delta"].abs(), x["A"], x["B"], x["C"], backend="torch")
    assert torch.allclose(plain, reference_scan(x["u"], x["delta"].abs(), x["A"], x["B"], x["C"]), atol=1e-5)


def test_gradients_equal_the_reference():
    x = {k: v.float().requires_grad_() for k, v in inputs(13).items()}
    selective_scan(**x, delta_softplus=True, backend="torch").pow(2).sum().backward()
    got = {k: v.grad.clone() for k, v in x.items()}
    for v in x.values():
        v.grad = None
    reference_scan(**x, delta_softplus=True).pow(2).sum().backward()
    for k, v in x.items():
        assert torch.allclose(got[k], v.grad, atol=1e-3, rtol=1e-3), k


def test_backends_are_chosen_and_checked():
    u = torch.zeros(1, 2, 3)
    assert scan_backend(u) == "torch" and scan_backend(u, "torch") == "torch"
    with pytest.raises(ConfigError, match="needs CUDA"):
        scan_backend(u, "kernel")
    with pytest.raises(ConfigError, match="backend"):
        scan_backend(u, "fast")
    with pytest.raises(ValueError, match="selective_scan shapes"):
        selective_scan(u, u, torch.zeros(2, 4), torch.zeros(1, 3, 3), torch.zeros(1, 3, 3))


@pytest.mark.skipif(not (torch.cuda.is_available() and kernel_available()), reason="needs mamba_ssm and CUDA")
def test_the_kernel_equals_the_pytorch_scan():
    x = {k: v.float().cuda() for k, v in inputs(256, bt=4, d=32, n=16).items()}
    a = selective_scan(**x, delta_softplus=True, backend="kernel")
    b = selective_scan(**x, delta_softplus=True, backend="torch")
    assert torch.allclose(a, b, atol=1e-3, rtol=1e-3), (a - b).abs().max()
