"""Contrastive image-caption pretraining of a (tiny) CLIP on synthetic people, as a stand-in for web-scale
CLIP pretraining when no pretrained weights can be had (offline tests and benchmarks).

Vision-language ReID methods (CLIP-ReID, VLADR) rely on a CLIP whose text tower already reads attribute words
("red coat", "backpack") and whose image tower already sees them. A randomly initialised tiny CLIP has
neither, so its caption features are nearly identical for all identities and text-side methods have nothing to
transfer. :func:`pretrain_synthetic_clip` trains the whole CLIP (both towers and the logit scale) with CLIP's
symmetric InfoNCE loss (Radford et al. 2021, Eq. in Fig. 3; ``open_clip.loss.ClipLoss``) on captioned synthetic
images from domains that no benchmark stream uses (their own seeds and styles), and writes an open_clip
state dict that ``RunConfig(weights=PATH)`` loads like any other CLIP checkpoint.

It is a test device: numbers obtained with it say how a method behaves with *a* vision-language prior, never
how it behaves with OpenAI's.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import open_clip
import torch
import torch.nn.functional as F

from lifelong_reid.data.transforms import CLIP_MEAN, CLIP_STD
from lifelong_reid.models.clip_loading import create_clip
from lifelong_reid.models.vision import ReIDVisionEncoder, interpolate_pos_embed
from lifelong_reid.synthetic.generator import SyntheticDomain

log = logging.getLogger("lifelong_reid.synthetic")

#: Seeds of the pretraining domains start here, far from the seeds the named synthetic streams use.
PRETRAIN_SEED = 90_000


def _render(domains: Sequence[SyntheticDomain], image_size) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """All training images of ``domains`` as ``(N, 3, H, W)`` uint8, their captions and ``(N,)`` identity index."""
    images, captions, ids = [], [], []
    for d_i, domain in enumerate(domains):
        data = domain.build()
        for s in data.train:
            img = domain.image_loader(s).resize((image_size[1], image_size[0]))
            images.append(torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1))
            captions.append(s.caption)
            ids.append(d_i * 100_000 + s.pid)
    _, index = torch.unique(torch.tensor(ids), return_inverse=True)
    return torch.stack(images), captions, index


def _normalise(images: torch.Tensor, flip: bool) -> torch.Tensor:
    x = images.float() / 255.0
    if flip:
        x = torch.where(torch.rand(len(x), 1, 1, 1) < 0.5, x.flip(-1), x)
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def _encode_images(encoder: ReIDVisionEncoder, images: torch.Tensor) -> torch.Tensor:
    return encoder.project(encoder(images).tokens[:, 0])


def pretrain_synthetic_clip(output: str | os.PathLike, *, model: str = "lreid-tiny-vit",
                            image_size: Sequence[int] = (128, 64), domains: int = 20, ids_per_domain: int = 100,
                            images_per_camera: int = 1,
                            steps: int = 800, batch_size: int = 64, lr: float = 5e-4, seed: int = 0,
                            held_out_ids: int = 64, device: str = "cpu", log_every: int = 0) -> dict:
    """Pretrain ``model`` contrastively on synthetic image-caption pairs and save it to ``output``.

    Args:
        output: file to write (an open_clip state dict, written atomically).
        model: open_clip / bundled model name (random initialisation).
        image_size: ``(H, W)`` of training images; the positional embedding is resized back to the model's
            own grid when saved (bilinear), and resized again by :class:`ReIDVisionEncoder` when loaded.
        domains, ids_per_domain, images_per_camera: synthetic domains (seeds ``PRETRAIN_SEED + seed * 100 + i``),
            their identities and images per identity and camera (3 cameras). Attribute words generalise
            only when many identities combine them: thousands of identities, few images each.
        steps, batch_size, lr: AdamW steps (5% warm-up, then cosine decay), images per step, peak learning rate.
        seed: torch seed of the initialisation and batch order.
        held_out_ids: identities of the held-out domain on which image -> caption retrieval is measured.
        device: where to train.
        log_every: log the loss and held-out retrieval every that many steps (0: never).

    Returns:
        ``{"loss_first", "loss_last"`` (InfoNCE, mean of the first / last ``min(50, steps // 4)`` steps),
        ``"retrieval_top1_random", "retrieval_top1"`` (image -> caption top-1 in percent among the
        ``held_out_ids`` identities of an unseen domain, before and after), ``"images", "path"}``.
    """
    torch.manual_seed(seed)
    clip_model, tokenizer = create_clip(model, None, None)
    visual = clip_model.visual
    encoder = ReIDVisionEncoder(visual, image_size)
    clip_model.to(device)
    encoder.to(device)
    train_domains = [SyntheticDomain(f"pretrain-{i}", PRETRAIN_SEED + seed * 100 + i, num_train_ids=ids_per_domain,
                                     num_test_ids=0, images_per_camera=images_per_camera) for i in range(domains)]
    held_out = SyntheticDomain("pretrain-heldout", PRETRAIN_SEED + seed * 100 + 99, num_train_ids=held_out_ids,
                               num_test_ids=0)
    images, captions, identity = _render(train_domains, image_size)
    test_images, test_captions, test_identity = _render([held_out], image_size)
    tokens = tokenizer(captions)
    test_tokens = tokenizer(test_captions)

    @torch.no_grad()
    def retrieval_top1() -> float:
        encoder.eval()
        clip_model.eval()
        img = F.normalize(_encode_images(encoder, _normalise(test_images, False).to(device)), dim=-1)
        txt = F.normalize(clip_model.encode_text(test_tokens.to(device)), dim=-1)
        best = (img @ txt.t()).argmax(1).cpu()
        return 100.0 * float((test_identity[best] == test_identity).float().mean())

    before = retrieval_top1()
    # the encoder shares every visual module with clip_model except its own (resized) positional embedding,
    # which replaces visual.positional_embedding when saved
    params = [p for n, p in clip_model.named_parameters() if n != "visual.positional_embedding"]
    params.append(encoder.positional_embedding)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    loss_fn = open_clip.loss.ClipLoss()
    gen = torch.Generator().manual_seed(seed)
    num_ids = int(identity.max()) + 1
    per_id = len(identity) // num_ids  # every synthetic identity has the same number of images
    table = torch.argsort(identity, stable=True).view(num_ids, per_id)  # (identities, images) -> image index
    losses = []
    encoder.train()
    clip_model.train()
    for _ in range(steps):
        # one image per identity in the batch, so every caption has exactly one matching image
        chosen = torch.randperm(num_ids, generator=gen)[:batch_size]
        pick = table[chosen, torch.randint(0, per_id, (len(chosen),), generator=gen)]
        img = F.normalize(_encode_images(encoder, _normalise(images[pick], True).to(device)), dim=-1)
        txt = F.normalize(clip_model.encode_text(tokens[pick].to(device)), dim=-1)
        loss = loss_fn(img, txt, clip_model.logit_scale.exp().clamp(max=100))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if log_every and len(losses) % log_every == 0:
            log.info("step %d: loss %.3f, held-out image->caption top-1 %.1f%%", len(losses),
                     np.mean(losses[-log_every:]), retrieval_top1())
            encoder.train()
            clip_model.train()
    after = retrieval_top1()
    with torch.no_grad():
        visual.positional_embedding.data.copy_(
            interpolate_pos_embed(encoder.positional_embedding.data.cpu(), encoder.grid, visual.grid_size))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(output.suffix + ".tmp")
    torch.save({k: v.cpu() for k, v in clip_model.state_dict().items()}, tmp)
    os.replace(tmp, output)
    window = max(1, min(50, steps // 4))
    report = {"loss_first": float(np.mean(losses[:window])), "loss_last": float(np.mean(losses[-window:])),
              "retrieval_top1_random": before, "retrieval_top1": after, "images": len(images), "path": str(output)}
    output.with_suffix(".json").write_text(json.dumps(report, indent=2))
    log.info("synthetic CLIP pretraining: %s", report)
    return report


_SETTINGS = inspect.signature(pretrain_synthetic_clip).parameters


def synthetic_clip_weights(model: str = "lreid-tiny-vit", *, cache_dir: Optional[str | os.PathLike] = None,
                           **settings) -> Path:
    """The path of a synthetic-pretrained ``model`` with ``settings`` (keyword arguments of
    :func:`pretrain_synthetic_clip`; its defaults otherwise), pretraining it on first use and caching it in
    ``cache_dir`` (default ``~/.cache/lifelong_reid/synthetic_clip``; the ``LREID_CACHE`` environment variable
    moves the root). The file name carries a hash of every setting, defaults included.

    Raises:
        TypeError: an unknown setting.
    """
    params = _SETTINGS
    unknown = set(settings) - set(params)
    if unknown:
        raise TypeError(f"unknown synthetic CLIP setting(s) {sorted(unknown)}; known: "
                        f"{', '.join(p for p in params if p != 'output')}")
    resolved = {k: p.default for k, p in params.items() if k not in ("output", "log_every")}
    resolved.update(settings, model=model)
    resolved.pop("log_every", None)
    if cache_dir is None:
        cache_dir = Path(os.environ.get("LREID_CACHE", Path.home() / ".cache" / "lifelong_reid")) / "synthetic_clip"
    text = json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in resolved.items()}, sort_keys=True)
    path = Path(cache_dir) / f"{model}-{hashlib.sha1(text.encode()).hexdigest()[:10]}.pt"
    if not path.is_file():
        pretrain_synthetic_clip(path, model=model, **settings)
    return path
