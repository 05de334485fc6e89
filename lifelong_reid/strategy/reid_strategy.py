"""``ReIDStrategy``: the common training loop of every setting, on Avalanche's ``SupervisedTemplate``.

It owns what every method shares and nothing paper-specific: P x K loading, identity (label-smoothed
cross-entropy) and batch-hard triplet losses, optimizer and schedule with per-group learning rates, autocast,
evaluation of query/gallery domains. Methods arrive through the pluggy hooks of ``hookspecs.py``.
"""
from __future__ import annotations

import logging
import warnings
from collections import defaultdict
from contextlib import nullcontext
from typing import Optional

import torch
from avalanche.training.plugins import EvaluationPlugin
from avalanche.training.templates import SupervisedTemplate
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from lifelong_reid.bridge import HookBridge
from lifelong_reid.data.samplers import PKSampler
from lifelong_reid.errors import ConfigError
from lifelong_reid.data.dataset import ReIDDataset
from lifelong_reid.evaluation.evaluator import ReIDEvaluator
from lifelong_reid.evaluation.ranked_lists import DomainFeatures
from lifelong_reid.losses import batch_hard_triplet_loss, identity_loss
from lifelong_reid.strategy.loss_metric import LossTermsMetric
from lifelong_reid.strategy.optim import build_optimizer, build_param_groups, build_scheduler

log = logging.getLogger(__name__)
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
BATCH_KEYS = ("images", "targets", "pids", "camids", "indices")


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; otherwise ``torch.device(name)``.

    Raises:
        ConfigError: CUDA requested but unavailable, or an unknown device string.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use cpu, cuda, cuda:N or auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    return dev


def blank_modalities(images: torch.Tensor, dropped) -> torch.Tensor:
    """``(B, M, 3, H, W)`` tuples with the ``dropped`` modalities (names in
    :data:`~lifelong_reid.data.sample.TUPLE_ORDER`) replaced by a normalised black image.

    Raises:
        ConfigError: not a tuple batch, or an unknown modality name.
    """
    from lifelong_reid.data.sample import TUPLE_ORDER
    from lifelong_reid.data.transforms import CLIP_MEAN, CLIP_STD

    if images.dim() != 5:
        raise ConfigError("dropping modalities needs multi-modal tuples (B, M, 3, H, W)")
    unknown = [m for m in dropped if m not in TUPLE_ORDER]
    if unknown:
        raise ConfigError(f"unknown modalities {unknown}; tuples hold {', '.join(TUPLE_ORDER)}")
    black = -torch.tensor(CLIP_MEAN, device=images.device) / torch.tensor(CLIP_STD, device=images.device)
    images = images.clone()
    for m in dropped:
        images[:, TUPLE_ORDER.index(m)] = black[:, None, None]
    return images


class ReIDStrategy(SupervisedTemplate):
    """Train a :class:`~lifelong_reid.models.CLIPReID` on a stream of ReID experiences.

    Args:
        model: the ReID model (output contract of :class:`~lifelong_reid.models.CLIPReID`).
        config: the :class:`~lifelong_reid.RunConfig` (epochs, lr, P, K, loss weights, amp, ...).
        pm: the pluggy plugin manager (``lifelong_reid.plugin_manager.get_plugin_manager``).
        plugins: extra Avalanche plugins.
        loggers: Avalanche loggers (e.g. ``TextLogger``) receiving each loss term's epoch mean.
        progress: show tqdm progress bars (``None``: only on a terminal).

    Attributes set during training: ``experience``, ``batch`` (dict of :data:`BATCH_KEYS`), ``loss_terms``
    (``{name: scalar tensor}`` of the last mini-batch), ``epoch_losses`` (``{name: mean}`` of the epoch),
    ``scheduler``.
    """

    def __init__(self, *, model, config, pm, plugins=(), loggers=(), progress: Optional[bool] = None):
        self.config, self.pm, self.progress = config, pm, progress
        device = resolve_device(config.device)
        if config.amp not in (None, *AMP_DTYPES):
            raise ConfigError(f"amp must be null, bf16 or fp16, got {config.amp!r}")
        placeholder = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=config.lr)  # see make_optimizer
        with warnings.catch_warnings():  # Avalanche warns when no logger is given; that is a valid choice
            warnings.filterwarnings("ignore", message="No loggers specified")
            super().__init__(model=model, optimizer=placeholder, criterion=None,
                             train_mb_size=config.batch_p * config.batch_k, train_epochs=config.epochs,
                             eval_mb_size=config.eval_batch_size, device=device,
                             plugins=[HookBridge(), *plugins],
                             evaluator=EvaluationPlugin(LossTermsMetric(), loggers=list(loggers)))
        self.scaler = torch.amp.GradScaler(device.type, enabled=config.amp == "fp16")
        self.batch: dict = {}
        self.loss_terms: dict = {}
        self.epoch_losses: dict = {}
        self._sums: dict = defaultdict(float)
        self._count = 0
        self._bar = None
        self.scheduler = None
        self.domain_features: list[DomainFeatures] = []
        self.model.visual.hook = pm.hook  # per-layer hooks of the vision encoder
        self.model.to(self.device)

    # ------------------------------------------------------------------ set-up per experience
    def autocast(self):
        """The autocast context for the configured ``amp`` (a no-op when ``amp`` is ``None``)."""
        if self.config.amp is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=AMP_DTYPES[self.config.amp])

    def make_train_dataloader(self, **kwargs):
        """P x K batches (:class:`~lifelong_reid.data.PKSampler`) seeded by ``seed`` and the experience."""
        targets = list(self.adapted_dataset.targets)
        if targets and max(targets) < 0:
            raise ConfigError(f"experience {self.experience.current_experience + 1} hides its identities "
                              "(an unsupervised stream): register a pseudo-label plugin that fills the targets "
                              "before training, or use the supervised stream")
        seed = self.config.seed * 1000 + self.experience.current_experience
        self.sampler = PKSampler(targets, self.config.batch_p, self.config.batch_k, seed=seed)
        self.dataloader = DataLoader(self.adapted_dataset, batch_sampler=self.sampler,
                                     num_workers=self.config.num_workers,
                                     pin_memory=self.device.type == "cuda",
                                     persistent_workers=self.config.num_workers > 0)

    def model_adaptation(self, model=None):
        """Size the identity classifier for the experience, then call ``lreid_adapt_model``."""
        model = model if model is not None else self.model
        if self.is_training:
            num_classes = len(self.experience.dataset.targets.uniques)
            model.reset_classifier(num_classes)
            self.pm.hook.lreid_adapt_model(model=model, experience=self.experience, strategy=self)
        return model.to(self.device)

    def check_model_and_optimizer(self, **kwargs):
        """Adapt the model to the experience, then build its optimizer (in this order, so that parameters
        added by ``lreid_adapt_model`` are optimized)."""
        self.model = self.model_adaptation()
        self.make_optimizer(**kwargs)

    def make_optimizer(self, **kwargs):
        """A fresh optimizer and schedule per experience, with the groups of :func:`build_param_groups`
        plus the plugins' ``lreid_param_groups``."""
        plugin_groups = [g for gs in self.pm.hook.lreid_param_groups(model=self.model, strategy=self)
                         if gs for g in gs]
        groups = build_param_groups(self.model, self.config, plugin_groups)
        self.optimizer = build_optimizer(groups, self.config)
        self.scheduler = build_scheduler(self.optimizer, self.config)

    # ------------------------------------------------------------------ one iteration
    def _unpack_minibatch(self):
        mb = list(self.mbatch)
        mb = [t.to(self.device, non_blocking=True) if torch.is_tensor(t) else t for t in mb]
        self.mbatch = mb
        self.batch = dict(zip(BATCH_KEYS, mb))

    def forward(self):
        with self.autocast():
            return self.model(self.mb_x, self.batch)

    def criterion(self):
        """Identity + triplet losses (weighted by ``id_weight`` / ``triplet_weight``) plus every plugin's
        ``lreid_extra_losses``; each term is kept in :attr:`loss_terms` under its name.

        Raises:
            ConfigError: two plugins return the same loss name.
        """
        if not self.is_training:
            return torch.zeros((), device=self.device)
        out, y, cfg = self.mb_output, self.mb_y, self.config
        terms = {}
        if cfg.id_weight > 0:
            logits = [out[k] for k in ("logits", "logits_proj") if k in out]
            terms["id"] = cfg.id_weight * sum(identity_loss(lg, y, cfg.label_smoothing) for lg in logits)
        if cfg.triplet_weight > 0:
            feats = [out[k] for k in ("global", "global_proj") if k in out]
            terms["triplet"] = cfg.triplet_weight * sum(
                batch_hard_triplet_loss(f, y, cfg.triplet_margin) for f in feats)
        for extra in self.pm.hook.lreid_extra_losses(outputs=out, batch=self.batch, strategy=self):
            for name, value in (extra or {}).items():
                if name in terms:
                    raise ConfigError(f"loss term {name!r} is returned twice (by the strategy or two "
                                      "plugins); rename one")
                terms[name] = value
        self.loss_terms = terms
        return sum(terms.values()) if terms else torch.zeros((), device=self.device, requires_grad=True)

    def backward(self):
        self.scaler.scale(self.loss).backward()

    def optimizer_step(self):
        self.scaler.step(self.optimizer)
        self.scaler.update()

    # ------------------------------------------------------------------ epoch bookkeeping
    def _before_training_epoch(self, **kwargs):
        self.sampler.set_epoch(self.clock.train_exp_epochs)
        self._sums, self._count = defaultdict(float), 0
        desc = f"exp {self.experience.current_experience + 1} epoch {self.clock.train_exp_epochs + 1}/" \
               f"{self.train_epochs}"
        self._bar = tqdm(total=len(self.sampler), desc=desc, leave=False, dynamic_ncols=True,
                         disable=None if self.progress is None else not self.progress)
        super()._before_training_epoch(**kwargs)

    def _after_training_iteration(self, **kwargs):
        self._count += 1
        self._sums["loss"] += float(self.loss.detach())
        for name, value in self.loss_terms.items():
            self._sums[name] += float(value.detach())
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix({k: f"{v / self._count:.3f}" for k, v in self._sums.items()})
        super()._after_training_iteration(**kwargs)

    def _after_training_epoch(self, **kwargs):
        self.epoch_losses = {k: v / max(self._count, 1) for k, v in self._sums.items()}
        if self._bar is not None:
            self._bar.close()
        log.info("experience %d epoch %d: %s lr=%.3g", self.experience.current_experience + 1,
                 self.clock.train_exp_epochs + 1,
                 " ".join(f"{k}={v:.4f}" for k, v in self.epoch_losses.items()),
                 self.optimizer.param_groups[0]["lr"])
        super()._after_training_epoch(**kwargs)
        self.scheduler.step()

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def extract_features(self, dataset, desc: str = "features",
                         drop_modalities: tuple = ()) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Retrieval features of an (eval-mode) Avalanche dataset: ``(N, F)`` features from
        ``lreid_inference_embedding``, ``(N,)`` pids, ``(N,)`` camids. ``desc`` labels the progress bar.
        ``drop_modalities``: names (``"rgb"``, ``"nir"``, ``"tir"``) of tuple modalities replaced by a black
        image (the missing-modality evaluation of multi-modal ReID)."""
        was_training = self.model.training
        self.model.eval()
        loader = DataLoader(dataset, batch_size=self.config.eval_batch_size, shuffle=False,
                            num_workers=self.config.num_workers)
        feats, pids, camids = [], [], []
        for mb in tqdm(loader, desc=desc, leave=False, dynamic_ncols=True,
                       disable=None if self.progress is None else not self.progress):
            images = mb[0].to(self.device)
            if drop_modalities:
                images = blank_modalities(images, drop_modalities)
            batch = {"images": images, "pids": mb[2], "camids": mb[3], "indices": mb[4]}
            with self.autocast():
                out = self.model(images, batch)
            emb = self.pm.hook.lreid_inference_embedding(outputs=out, model=self.model)
            if emb is None:
                raise ConfigError("no plugin provides lreid_inference_embedding (is the 'core' plugin blocked?)")
            feats.append(emb.float().cpu())
            pids.append(mb[2].cpu())
            camids.append(mb[3].cpu())
        self.model.train(was_training)
        return torch.cat(feats), torch.cat(pids), torch.cat(camids)

    def evaluate_domains(self, benchmark, keep_features: bool = False) -> dict[str, dict]:
        """Metrics (percent) of every evaluation domain of ``benchmark``: ``{domain: {"mAP", "rank1", ...}}``.

        With ``keep_features``, :attr:`domain_features` holds each domain's features afterwards
        (:class:`~lifelong_reid.evaluation.ranked_lists.DomainFeatures`, for the report's figures).
        """
        results = {}
        self.domain_features = []
        cfg = self.config
        for name, query, gallery in benchmark.eval_sets():
            protocol = benchmark.protocol.get(name, "market1501")
            ev = ReIDEvaluator(protocol=protocol, metric=cfg.eval_metric, rerank=cfg.rerank, k1=cfg.rerank_k1,
                               k2=cfg.rerank_k2, lambda_value=cfg.rerank_lambda)
            parts = {}
            for split, ds in (("query", query), ("gallery", gallery)):
                parts[split] = self.extract_features(ds.eval(), desc=f"eval {name} {split}")
                ev.process(*parts[split], split=split)
            results[name] = ev.evaluate()
            log.info("eval %s: mAP %.2f rank1 %.2f", name, results[name]["mAP"], results[name]["rank1"])
            if keep_features:
                domain = benchmark.domains[name]
                q_ds, g_ds = ReIDDataset(domain.query, domain.image_loader), ReIDDataset(domain.gallery,
                                                                                        domain.image_loader)
                (qf, qp, qc), (gf, gp, gc) = parts["query"], parts["gallery"]
                self.domain_features.append(DomainFeatures(name, qf, gf, qp, gp, qc, gc, protocol,
                                                           q_ds.load_image, g_ds.load_image))
        return results

    # ------------------------------------------------------------------ checkpoint state
    def state_dict(self) -> dict:
        """Model weights, classifier size and every plugin's ``lreid_state_dict``."""
        plugin_state = {}
        for part in self.pm.hook.lreid_state_dict(strategy=self):
            plugin_state.update(part or {})
        return {"model": self.model.state_dict(), "num_classes": self.model.num_classes, "plugins": plugin_state}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` output: the classifier is resized and the plugins restore their state
        (re-creating any module they added to the model) before the model weights are loaded."""
        if state.get("num_classes"):
            self.model.reset_classifier(state["num_classes"])
        self.pm.hook.lreid_load_state_dict(state=state.get("plugins", {}), strategy=self)
        self.model.load_state_dict(state["model"])
        self.model.to(self.device)
