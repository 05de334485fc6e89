"""``ReIDStrategy``: the common training loop of every setting, on Avalanche's ``SupervisedTemplate``.

It owns what every method shares and nothing paper-specific: the training targets (labels or
pseudo-labels, in one place), P x K loading, identity (label-smoothed cross-entropy) and batch-hard triplet
losses over the model's heads, optimizer and schedule with per-group learning rates (rebuilt on request),
autocast, evaluation of query/gallery domains. Methods arrive through the pluggy hooks of ``hookspecs.py``.
"""
from __future__ import annotations

import io
import logging
import os
import warnings
from collections import defaultdict
from contextlib import nullcontext
from typing import Optional

import torch
from avalanche.training.plugins import EvaluationPlugin
from avalanche.training.templates import SupervisedTemplate
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from lifelong_reid import distributed as dist
from lifelong_reid.bridge import HookBridge
from lifelong_reid.data.batch import ReIDBatch, collate_reid
from lifelong_reid.data.dataset import ReIDDataset
from lifelong_reid.data.samplers import CameraDiversePKSampler, PKSampler
from lifelong_reid.data.views import TrainViews
from lifelong_reid.errors import ConfigError, TrainingDivergedError
from lifelong_reid.evaluation.evaluator import ReIDEvaluator
from lifelong_reid.evaluation.ranked_lists import DomainFeatures
from lifelong_reid.losses import batch_hard_triplet_loss, identity_loss
from lifelong_reid.plugin_manager import call_each, implementers
from lifelong_reid.strategy.loss_metric import LossTermsMetric
from lifelong_reid.strategy.optim import build_optimizer, build_param_groups, build_scheduler
from lifelong_reid.strategy.resume import restore_training_state

log = logging.getLogger(__name__)
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
#: Loss names the strategy itself uses.
STRATEGY_LOSSES = ("loss", "id", "triplet")


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


def blank_modalities(images: torch.Tensor, dropped, order=None) -> torch.Tensor:
    """``(B, M, 3, H, W)`` tuples with the ``dropped`` modalities replaced by a normalised black image.

    Args:
        order: the ``M`` modality names along axis 1 (a batch's ``side["tuple_modalities"]``); default
            :data:`~lifelong_reid.data.sample.TUPLE_ORDER`.

    Raises:
        ConfigError: not a tuple batch, or a modality the tuples do not hold.
    """
    from lifelong_reid.data.sample import TUPLE_ORDER
    from lifelong_reid.data.transforms import CLIP_MEAN, CLIP_STD

    order = tuple(order or TUPLE_ORDER)
    if images.dim() != 5:
        raise ConfigError("dropping modalities needs multi-modal tuples (B, M, 3, H, W)")
    unknown = [m for m in dropped if m not in order]
    if unknown:
        raise ConfigError(f"cannot drop {unknown}: the tuples hold {', '.join(order)}")
    if images.shape[1] != len(order):
        raise ConfigError(f"the tuples have {images.shape[1]} modalities, not the {len(order)} of {order}")
    black = -torch.tensor(CLIP_MEAN, device=images.device) / torch.tensor(CLIP_STD, device=images.device)
    images = images.clone()
    for m in dropped:
        images[:, order.index(m)] = black[:, None, None].to(images.dtype)
    return images


def _labeller(samples):
    """``index -> label lines`` (identity, camera, file name) of a split's samples, for ranked lists."""
    from lifelong_reid.evaluation.plots import sample_label

    return lambda i: sample_label(samples[i].pid, samples[i].camid, samples[i].path)


class ReIDStrategy(SupervisedTemplate):
    """Train a :class:`~lifelong_reid.models.CLIPReID` on a stream of ReID experiences.

    Args:
        model: the ReID model (output contract of :class:`~lifelong_reid.models.CLIPReID`).
        config: the :class:`~lifelong_reid.RunConfig` (epochs, lr, P, K, loss weights, amp, ...).
        pm: the pluggy plugin manager (``lifelong_reid.plugin_manager.get_plugin_manager``).
        plugins: extra Avalanche plugins.
        loggers: Avalanche loggers (e.g. ``TextLogger``) receiving each loss term's epoch mean; their files
            are flushed after every epoch.
        progress: show tqdm progress bars (``None``: only on a terminal).

    Attributes set during training: ``experience``, ``batch`` (the :class:`~lifelong_reid.data.ReIDBatch`),
    ``targets`` (``(N,)`` training targets of the experience: the one place labels and pseudo-labels live),
    ``experience_is_supervised`` (``False`` when the stream hid the experience's identities),
    ``class_offset`` (with ``classifier="grow"``, the label of the experience's first identity in the grown
    classifier: ``targets`` are the dataset's targets plus it; ``0`` otherwise),
    ``loss_terms`` (``{name: scalar tensor}`` of the last mini-batch), ``epoch_losses`` (``{name: mean}`` of
    the epoch), ``epoch`` (0-based, in the experience), ``scheduler``.

    Raises:
        ConfigError: an unknown ``amp``, or two plugins declaring the same loss name (``loss_names``).
    """

    def __init__(self, *, model, config, pm, plugins=(), loggers=(), progress: Optional[bool] = None):
        self.config, self.pm, self.progress = config, pm, progress
        device = dist.local_device(resolve_device(config.device))
        if config.amp not in (None, *AMP_DTYPES):
            raise ConfigError(f"amp must be null, bf16 or fp16, got {config.amp!r}")
        check_loss_names(pm)
        placeholder = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=config.lr)  # see make_optimizer
        with warnings.catch_warnings():  # Avalanche warns when no logger is given; that is a valid choice
            warnings.filterwarnings("ignore", message="No loggers specified")
            super().__init__(model=model, optimizer=placeholder, criterion=None,
                             train_mb_size=config.batch_p * config.batch_k, train_epochs=config.epochs,
                             eval_mb_size=config.eval_batch_size, device=device,
                             plugins=[HookBridge(), *plugins],
                             evaluator=EvaluationPlugin(LossTermsMetric(), loggers=list(loggers)))
        self.loggers_files = [f for f in (getattr(lg, "file", None) for lg in loggers) if f is not None]
        self.scaler = torch.amp.GradScaler(device.type, enabled=config.amp == "fp16")
        self.batch: Optional[ReIDBatch] = None
        self.targets: Optional[torch.Tensor] = None
        self.experience_is_supervised = True
        self.class_offset = 0
        self.loss_terms: dict = {}
        self.epoch_losses: dict = {}
        self._sums: dict = defaultdict(float)
        self._count = 0
        self._bar = None
        self._loader_stale = False
        self._labelling_dataset = None
        self.sampler = None
        self.scheduler = None
        #: multiplies the base learning rates (:meth:`rebuild_optimizer`); 1 at each experience's start
        self.lr_factor = 1.0
        self.domain_features: list[DomainFeatures] = []
        #: steps skipped for a non-finite loss (``nonfinite_loss="skip"``), over the whole run
        self.skipped_steps = 0
        self._skip_step = False
        self._epoch_skipped = 0
        #: called as ``on_epoch_end(epochs_done)`` after each epoch (the runner's epoch checkpoints)
        self.on_epoch_end = None
        self._resume_state: Optional[dict] = None
        self._muted: list = []
        self.model.hook = pm.hook  # the vision and output hooks of the model
        self.model.to(self.device)

    # ------------------------------------------------------------------ Avalanche's mini-batch accessors
    @property
    def mb_x(self):
        """The mini-batch images (Avalanche's name)."""
        return self.batch.images

    @property
    def mb_y(self):
        """The mini-batch targets (Avalanche's name)."""
        return self.batch.targets

    @property
    def epoch(self) -> int:
        """The current training epoch of the experience (0-based)."""
        return self.clock.train_exp_epochs

    # ------------------------------------------------------------------ set-up per experience
    def autocast(self):
        """The autocast context for the configured ``amp`` (a no-op when ``amp`` is ``None``)."""
        if self.config.amp is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=AMP_DTYPES[self.config.amp])

    def make_train_dataloader(self, **kwargs):
        """Take the experience's targets into :attr:`targets` and build the P x K loader
        (:class:`~lifelong_reid.data.PKSampler`, seeded by ``seed`` and the experience). For an unsupervised
        experience (every target ``-1``) the loader is built once ``lreid_assign_targets`` has given targets.

        Raises:
            ConfigError: an unsupervised experience and no plugin implements ``lreid_assign_targets``.
        """
        self.targets = torch.as_tensor(list(self.adapted_dataset.targets), dtype=torch.long)
        self.sampler, self.dataloader, self._loader_stale = None, [], True
        self._labelling_dataset = None  # the eval-mode view lreid_assign_targets gets, made once per experience
        reid_dataset = getattr(self.adapted_dataset, "reid_dataset", None)
        if reid_dataset is not None:  # geometric side information only when a plugin reads it
            reid_dataset.geometric = requested_side_info(self.pm) & GEOMETRIC_SIDE_KEYS
        self.experience_is_supervised = supervised = len(self.targets) > 0 and int(self.targets.max()) >= 0
        self.class_offset = self._class_offset(supervised)
        if self.class_offset:
            self.targets = torch.where(self.targets >= 0, self.targets + self.class_offset, self.targets)
        if not supervised and not implementers(self.pm, "lreid_assign_targets"):
            raise ConfigError(f"experience {self.experience.current_experience + 1} hides its identities "
                              "(an unsupervised stream) and no active plugin implements lreid_assign_targets; "
                              "activate a pseudo-label plugin (--plugin NAME, `lreid plugins list`), or use "
                              "the supervised stream")
        if supervised:
            self._build_loader()

    def _class_offset(self, supervised: bool) -> int:
        """With ``config.classifier="grow"``, the number of identities of the stream's training experiences
        before this one (the sum of their ``max(target) + 1``), the first label of this experience's
        identities in the grown classifier; ``0`` otherwise.

        Raises:
            ConfigError: ``"grow"`` on an experience without labels (pseudo-labels change every epoch; use
                ``classifier="reset"``).
        """
        if self.config.classifier != "grow":
            return 0
        if not supervised:
            raise ConfigError(f"classifier='grow' needs labelled experiences; experience "
                              f"{self.experience.current_experience + 1} hides its identities (pseudo-labels); use "
                              "--set classifier=reset")
        stream, current = self.experience.origin_stream, self.experience.current_experience
        return sum(max(0, int(max(stream[i].dataset.targets, default=-1)) + 1) for i in range(current))

    def _build_loader(self) -> None:
        seed = self.config.seed * 1000 + self.experience.current_experience
        rank, world_size = dist.world()
        if self.config.sampler == "pk_camera":
            self.sampler = CameraDiversePKSampler(self.targets.tolist(), list(self.adapted_dataset.camids),
                                                  self.config.batch_p, self.config.batch_k, seed=seed, rank=rank,
                                                  world_size=world_size)
        else:
            self.sampler = PKSampler(self.targets.tolist(), self.config.batch_p, self.config.batch_k, seed=seed,
                                     rank=rank, world_size=world_size)
        views = self._train_views()
        dataset = self.adapted_dataset
        if views:
            dataset = TrainViews(dataset, getattr(dataset, "reid_dataset", None), views)
        self.dataloader = DataLoader(dataset, batch_sampler=self.sampler,
                                     num_workers=self.config.num_workers, collate_fn=collate_reid,
                                     pin_memory=self.device.type == "cuda",
                                     persistent_workers=self.config.num_workers > 0)
        self._loader_stale = False

    def _train_views(self) -> dict:
        """``{name: transform}`` of every plugin's ``lreid_train_views``.

        Raises:
            ConfigError: two plugins name a view alike, or the training dataset is not a ReID dataset.
        """
        views, owner = {}, {}
        for plugin, asked in call_each(self.pm, "lreid_train_views", strategy=self):
            for name, transform in (asked or {}).items():
                if name in views:
                    raise ConfigError(f"training view {name!r} is asked for by plugins {owner[name]!r} and "
                                      f"{plugin!r}; prefix view names with the plugin's name")
                views[name], owner[name] = transform, plugin
        if views and getattr(self.adapted_dataset, "reid_dataset", None) is None:
            raise ConfigError(f"plugins {', '.join(sorted(set(owner.values())))} ask for extra training views, which "
                              "need a stream built by lifelong_reid.streams (its datasets keep the stored images)")
        return views

    def set_targets(self, targets) -> None:
        """Replace the experience's training targets (pseudo-labels). When they change, the identity
        classifiers are resized to ``max(targets) + 1`` classes (new weights), the optimizer is rebuilt and
        the P x K sampler is rebuilt at the next epoch start (samples with target ``-1`` are left out).

        Raises:
            ConfigError: not one integer per sample, values below -1, or no sample with a target.
        """
        t = torch.as_tensor(targets)
        if t.dim() != 1 or len(t) != len(self.targets) or t.is_floating_point():
            raise ConfigError(f"targets must be {len(self.targets)} integers (one per training sample), got "
                              f"{tuple(t.shape)} {t.dtype}")
        t = t.long().cpu()
        if self.config.classifier == "grow":
            raise ConfigError("set_targets replaces the labels, which classifier='grow' keeps across experiences; "
                              "use --set classifier=reset with pseudo-label plugins")
        if int(t.min()) < -1 or int(t.max()) < 0:
            raise ConfigError("targets must be >= 0, or -1 for unused samples, with at least one sample used")
        if torch.equal(t, self.targets):
            return
        self.targets = t
        self.model.reset_classifier(int(t.max()) + 1)
        self.model.to(self.device)
        self.rebuild_optimizer()
        self._loader_stale = True
        log.info("targets assigned: %d classes over %d of %d samples", int(t.max()) + 1, int((t >= 0).sum()), len(t))

    def _assign_targets(self, epoch: int, iteration: Optional[int]) -> None:
        if not implementers(self.pm, "lreid_assign_targets"):
            return
        if self._labelling_dataset is None:
            self._labelling_dataset = self.experience.dataset.eval()
        new = self.pm.hook.lreid_assign_targets(strategy=self, experience=self.experience,
                                                dataset=self._labelling_dataset, epoch=epoch, iteration=iteration)
        if dist.is_distributed():  # one set of pseudo-labels for every rank: rank 0's
            new = dist.broadcast_object(None if new is None else torch.as_tensor(new).cpu())
        if new is not None:
            self.set_targets(new)

    def model_adaptation(self, model=None):
        """Size the identity classifier for the experience (a new one, or the grown one with
        ``classifier="grow"``), then call ``lreid_adapt_model``."""
        model = model if model is not None else self.model
        if self.is_training:
            num_classes = max(1, int(self.targets.max()) + 1) if self.targets is not None and len(self.targets) else 1
            if self.config.classifier == "grow":  # the earlier identities' rows are kept
                model.grow_classifier(max(num_classes, model.num_classes))
            else:
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
        self.lr_factor = 1.0
        self.optimizer = build_optimizer(self._param_groups(), self.config)
        self.scheduler = build_scheduler(self.optimizer, self.config)

    def _param_groups(self) -> list[dict]:
        plugin_groups = [g for gs in self.pm.hook.lreid_param_groups(model=self.model, strategy=self)
                         if gs for g in gs]
        return build_param_groups(self.model, self.config, plugin_groups)

    def rebuild_optimizer(self, lr_factor: Optional[float] = None) -> None:
        """Rebuild the optimizer from the parameters that train now (``requires_grad``), e.g. after a plugin
        unfroze a backbone for a second stage or a classifier was resized. Optimizer state (Adam moments) is
        kept for parameters that were already trained, and the schedule continues at the current epoch.

        Args:
            lr_factor: multiplies every group's base learning rate from now to the end of the experience
                (:attr:`lr_factor`; later rebuilds keep it; each experience starts at 1), e.g. a second stage
                that trains at a lower rate (GraFT's code: 2.54e-5 frozen, 5.74e-6 unfrozen). ``None`` keeps
                the current factor.

        Raises:
            ConfigError: ``lr_factor`` is not positive.
        """
        if lr_factor is not None:
            if not lr_factor > 0:
                raise ConfigError(f"lr_factor must be > 0, got {lr_factor}")
            self.lr_factor = float(lr_factor)
        old = self.optimizer
        epoch = self.scheduler.last_epoch if self.scheduler is not None else 0
        self.optimizer = build_optimizer(self._param_groups(), self.config)
        for group in self.optimizer.param_groups:
            group["lr"] *= self.lr_factor
            for p in group["params"]:
                if p in old.state:
                    self.optimizer.state[p] = old.state[p]
        self.scheduler = build_scheduler(self.optimizer, self.config, start_epoch=epoch)
        log.info("optimizer rebuilt: %d trainable tensors, epoch %d of the schedule",
                 sum(len(g["params"]) for g in self.optimizer.param_groups), epoch)

    # ------------------------------------------------------------------ one iteration
    def _unpack_minibatch(self):
        batch = self.mbatch.to(self.device, non_blocking=True)
        if self.is_training and self.targets is not None:
            batch.targets = self.targets[batch.indices.cpu()].to(self.device)
        self.batch = self.mbatch = batch

    def forward(self):
        with self.autocast():
            return self.model(self.batch.images, self.batch)

    def criterion(self):
        """Identity and triplet losses over every head that asks for them (weighted by ``id_weight`` /
        ``triplet_weight``) plus every plugin's ``lreid_extra_losses``; each term is kept in
        :attr:`loss_terms` under its name.

        Raises:
            ConfigError: two plugins (or a plugin and the strategy) return the same loss name.
        """
        if not self.is_training:
            return torch.zeros((), device=self.device)
        out = self.mb_output
        terms = self.reid_losses(out, self.mb_y)
        owner = {k: "the strategy" for k in terms}
        for plugin, extra in call_each(self.pm, "lreid_extra_losses", outputs=out, batch=self.batch, strategy=self):
            for name, value in (extra or {}).items():
                if name in terms or name == "loss":
                    raise ConfigError(f"loss term {name!r} is returned by {owner.get(name, 'the strategy')} and by "
                                      f"plugin {plugin!r}; rename one (declare loss_names to catch this at start)")
                terms[name], owner[name] = value, f"plugin {plugin!r}"
        self.loss_terms = terms
        return sum(terms.values()) if terms else torch.zeros((), device=self.device, requires_grad=True)

    def reid_losses(self, outputs, targets: torch.Tensor) -> dict:
        """The strategy's ReID terms of ``outputs`` against ``(B,)`` ``targets``: ``"id"`` (``id_weight`` x
        the label-smoothed cross-entropy of every head whose identity loss is on) and ``"triplet"``
        (``triplet_weight`` x the batch-hard triplet of every head whose triplet is on, mined over the global
        batch under several processes); a term is absent when its weight is 0 or no head asks for it. The
        training loss holds them for the batch; a plugin calls this for another view of it (VLADR's strong
        view) and returns the terms under its own names.
        """
        cfg, heads, terms = self.config, self.model.head_specs, {}
        logits = [outputs[h.logits] for h in heads if h.id_loss and h.logits in outputs]
        if cfg.id_weight > 0 and logits:  # no term when every head has its identity loss off (set_head_losses)
            terms["id"] = cfg.id_weight * sum(identity_loss(lg, targets, cfg.label_smoothing) for lg in logits)
        feats = [outputs[h.feature] for h in heads if h.triplet and h.feature in outputs]
        if cfg.triplet_weight > 0 and feats:  # mined over the global batch under several processes
            y_all = dist.all_gather_cat(targets)
            terms["triplet"] = cfg.triplet_weight * sum(
                batch_hard_triplet_loss(dist.all_gather_with_grad(f), y_all, cfg.triplet_margin) for f in feats)
        return terms

    def backward(self):
        """Back-propagate, after checking that the loss is finite (``config.nonfinite_loss``).

        Raises:
            TrainingDivergedError: a NaN or infinite loss and ``nonfinite_loss="stop"``; the message names the
                non-finite terms, the experience, the epoch and the iteration.
        """
        finite = torch.isfinite(self.loss.detach()).to(torch.float32).reshape(1)
        if not bool(dist.all_reduce_sum(finite) == dist.world()[1]):  # every rank stops, or skips, together
            bad = [f"{n}={float(v.detach())}" for n, v in self.loss_terms.items()
                   if not bool(torch.isfinite(v.detach()))] or [f"loss={float(self.loss.detach())}"]
            where = (f"experience {self.experience.current_experience + 1}, epoch {self.epoch + 1}, iteration "
                     f"{self._count + 1}")
            if self.config.nonfinite_loss == "skip":
                self.skipped_steps += 1
                self._epoch_skipped += 1
                self._skip_step = True
                log.warning("non-finite loss (%s) at %s: step skipped (%d so far)", ", ".join(bad), where,
                            self.skipped_steps)
                return
            raise TrainingDivergedError(f"training diverged: non-finite loss ({', '.join(bad)}) at {where}; the "
                                        "run stops here and keeps the checkpoints it wrote. Lower lr (--set lr=...), or skip "
                                        "such steps with --set nonfinite_loss=skip")
        self.scaler.scale(self.loss).backward()
        if dist.is_distributed():
            dist.average_gradients([p for g in self.optimizer.param_groups for p in g["params"]])

    def optimizer_step(self):
        if self._skip_step:
            self.optimizer.zero_grad(set_to_none=True)
            return
        self.scaler.step(self.optimizer)
        if dist.is_distributed():  # BatchNorm statistics and other buffers: rank 0's, as DDP keeps them
            dist.broadcast_buffers(self.model)
        self.scaler.update()
        if self.config.scheduler_step == "iteration":
            self.scheduler.step()
        self.pm.hook.lreid_after_optimizer_step(strategy=self, batch=self.batch, outputs=self.mb_output)

    # ------------------------------------------------------------------ epoch bookkeeping
    def _before_training_epoch(self, **kwargs):
        epoch = self.clock.train_exp_epochs
        self._assign_targets(epoch, None)
        if self._loader_stale:
            self._build_loader()
        self.sampler.set_epoch(epoch)
        self._sums, self._count, self._epoch_skipped = defaultdict(float), 0, 0
        desc = f"exp {self.experience.current_experience + 1} epoch {epoch + 1}/{self.train_epochs}"
        self._bar = tqdm(total=len(self.sampler), desc=desc, leave=False, dynamic_ncols=True,
                         disable=None if self.progress is None else not self.progress)
        super()._before_training_epoch(**kwargs)

    def _after_training_iteration(self, **kwargs):
        if self._skip_step:  # a skipped step's non-finite loss stays out of the epoch means
            self._skip_step = False
        else:
            self._count += 1
            self._sums["loss"] += float(self.loss.detach())
            for name, value in self.loss_terms.items():
                self._sums[name] += float(value.detach())
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix({k: f"{v / max(self._count, 1):.3f}" for k, v in self._sums.items()})
        super()._after_training_iteration(**kwargs)
        self._assign_targets(self.clock.train_exp_epochs, self._count)

    def _after_training_epoch(self, **kwargs):
        if self._epoch_skipped and not self._count:
            raise TrainingDivergedError(f"training diverged: every step of experience "
                                        f"{self.experience.current_experience + 1}, epoch {self.epoch + 1} had a "
                                        f"non-finite loss and was skipped ({self._epoch_skipped} steps); lower lr "
                                        "(--set lr=...)")
        if dist.is_distributed() and self._sums:  # every rank logs the mean over all ranks' iterations
            keys = sorted(self._sums)
            total = dist.all_reduce_sum(torch.tensor([self._sums[k] for k in keys] + [self._count], dtype=torch.float64))
            self._sums, count = dict(zip(keys, total[:-1].tolist())), int(total[-1])
        else:
            count = self._count
        self.epoch_losses = {k: v / max(count, 1) for k, v in self._sums.items()}
        if self._bar is not None:
            self._bar.close()
        log.info("experience %d epoch %d: %s lr=%.3g", self.experience.current_experience + 1,
                 self.clock.train_exp_epochs + 1,
                 " ".join(f"{k}={v:.4f}" for k, v in self.epoch_losses.items()),
                 self.optimizer.param_groups[0]["lr"])
        super()._after_training_epoch(**kwargs)
        for f in self.loggers_files:  # losses.log: one flushed block per epoch
            f.flush()
            if hasattr(f, "fileno"):
                os.fsync(f.fileno())
        if self.config.scheduler_step == "epoch":
            self.scheduler.step()
        if self.on_epoch_end is not None:
            self.on_epoch_end(self.clock.train_exp_epochs)

    # ------------------------------------------------------------------ resuming inside an experience
    def resume_training(self, state: dict) -> None:
        """Make the next :meth:`train` call continue an experience from an epoch checkpoint: the experience's
        set-up runs as usual (with the loggers muted, since the log already holds its lines), then the saved
        weights, optimizer, schedule, targets, plugin state and random generators replace the fresh ones and
        training goes on at the saved epoch (:mod:`lifelong_reid.strategy.resume`)."""
        self._resume_state = state

    def train(self, experiences, eval_streams=None, **kwargs):
        if self._resume_state is not None:
            self._muted = [lg for lg in self.evaluator.loggers if hasattr(lg, "file")]
            for lg in self._muted:
                lg.file, lg._lreid_file = io.StringIO(), lg.file
        try:
            return super().train(experiences, eval_streams, **kwargs)
        finally:
            self._unmute()

    def _unmute(self) -> None:
        for lg in self._muted:
            lg.file = lg._lreid_file
        self._muted = []

    def _train_exp(self, experience, eval_streams=None, **kwargs):
        """Avalanche's epoch loop, starting after the epochs an epoch checkpoint holds (see
        :meth:`resume_training`)."""
        start = 0
        if self._resume_state is not None:
            state, self._resume_state = self._resume_state, None
            start = restore_training_state(self, state)
            self._unmute()
        for _ in range(start, self.train_epochs):
            self._before_training_epoch(**kwargs)
            if self._stop_training:  # early stopping, as Avalanche's loop
                self._stop_training = False
                break
            self.training_epoch(**kwargs)
            self._after_training_epoch(**kwargs)

    # ------------------------------------------------------------------ features
    @torch.no_grad()
    def embed(self, dataset, outputs: Optional[tuple] = None, desc: str = "features",
              drop_modalities: tuple = ()) -> dict:
        """Run the (eval-mode) model over ``dataset`` in order.

        Args:
            dataset: an eval-mode Avalanche dataset or any dataset of :class:`ReIDDataset` items.
            outputs: model output names to collect (e.g. ``("global_proj",)``); ``None``: the retrieval
                embedding (``lreid_inference_embedding``) under ``"feat"``.
            drop_modalities: tuple modalities (``"rgb"``, ``"nir"``, ``"tir"``) replaced by a black image.

        Returns:
            ``{name: (N, ...) float CPU tensor for each output, "pids", "camids", "indices": (N,),
            "modality", "domain": N strings}``.

        Raises:
            ConfigError: an unknown output name, or no plugin provides the retrieval embedding.
        """
        was_training = self.model.training
        self.model.eval()
        sharded = dist.is_distributed() and len(dataset) >= dist.world()[1]
        if sharded:  # each rank embeds a contiguous shard; the shards are gathered back in order below
            dataset = Subset(dataset, list(dist.shard(len(dataset))))
        loader = DataLoader(dataset, batch_size=self.config.eval_batch_size, shuffle=False,
                            num_workers=self.config.num_workers, collate_fn=collate_reid)
        names = tuple(outputs) if outputs else ("feat",)
        cols: dict = {n: [] for n in (*names, "pids", "camids", "indices")}
        modality, domain = [], []
        for batch in tqdm(loader, desc=desc, leave=False, dynamic_ncols=True,
                          disable=None if self.progress is None else not self.progress):
            batch = batch.to(self.device)
            if drop_modalities:
                batch.images = blank_modalities(batch.images, drop_modalities, batch.get("tuple_modalities"))
            with self.autocast():
                out = self.model(batch.images, batch)
            for n in names:
                if outputs:
                    if n not in out:
                        raise ConfigError(f"no model output {n!r}; outputs: {', '.join(sorted(out))}")
                    value = out[n]
                else:
                    value = self.pm.hook.lreid_inference_embedding(outputs=out, model=self.model)
                    if value is None:
                        raise ConfigError("no plugin provides lreid_inference_embedding (is the 'core' plugin "
                                          "blocked?)")
                cols[n].append(value.float().cpu())
            for key in ("pids", "camids", "indices"):
                cols[key].append(getattr(batch, key).cpu())
            modality += batch.modality
            domain += batch.domain
        self.model.train(was_training)
        result = {k: torch.cat(v) for k, v in cols.items()}
        if sharded:
            result = {k: dist.all_gather_cat(v) for k, v in result.items()}
            modality = [m for part in dist.all_gather_objects(modality) for m in part]
            domain = [d for part in dist.all_gather_objects(domain) for d in part]
        result.update(modality=modality, domain=domain)
        return result

    def extract_features(self, dataset, desc: str = "features",
                         drop_modalities: tuple = (), output: Optional[str] = None):
        """Retrieval features of an (eval-mode) dataset: ``(N, F)`` features from
        ``lreid_inference_embedding`` (or the model output named ``output``), ``(N,)`` pids, ``(N,)`` camids.
        ``desc`` labels the progress bar; ``drop_modalities`` as in :meth:`embed`."""
        res = self.embed(dataset, outputs=(output,) if output else None, desc=desc, drop_modalities=drop_modalities)
        return res[output or "feat"], res["pids"], res["camids"]

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
                bad = int((~torch.isfinite(parts[split][0]).all(dim=1)).sum())
                if bad:
                    raise TrainingDivergedError(f"{bad} of {len(parts[split][0])} {name} {split} features are NaN or "
                                                "infinite: the model's weights are broken (a diverged run, or a bad "
                                                "checkpoint)")
                ev.process(*parts[split], split=split)
            results[name] = ev.evaluate()
            results[name]["num_queries"] = len(parts["query"][0])
            log.info("eval %s: mAP %.2f rank1 %.2f", name, results[name]["mAP"], results[name]["rank1"])
            if keep_features:
                domain = benchmark.domains[name]
                q_ds, g_ds = ReIDDataset(domain.query, domain.image_loader), ReIDDataset(domain.gallery,
                                                                                        domain.image_loader)
                (qf, qp, qc), (gf, gp, gc) = parts["query"], parts["gallery"]
                self.domain_features.append(DomainFeatures(
                    name, qf, gf, qp, gp, qc, gc, protocol, q_ds.load_image, g_ds.load_image,
                    *(_labeller(samples) for samples in (domain.query, domain.gallery))))
        return results

    # ------------------------------------------------------------------ checkpoint state
    def plugin_state(self) -> dict:
        """``{key: state}`` of every plugin's ``lreid_state_dict``.

        Raises:
            ConfigError: two plugins use the same key.
        """
        merged, owner = {}, {}
        for plugin, part in call_each(self.pm, "lreid_state_dict", strategy=self):
            for key, value in (part or {}).items():
                if key in merged:
                    raise ConfigError(f"plugins {owner[key]!r} and {plugin!r} both save checkpoint state under "
                                      f"{key!r}; use the plugin's registry name as key")
                merged[key], owner[key] = value, plugin
        return merged

    def state_dict(self) -> dict:
        """Model weights, classifier size and every plugin's ``lreid_state_dict``."""
        return {"model": self.model.state_dict(), "num_classes": self.model.num_classes,
                "plugins": self.plugin_state()}

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Restore :meth:`state_dict` output: the classifier is resized, the plugins restore their state and
        re-create the modules they add (``lreid_load_state_dict``, then ``lreid_adapt_model`` with
        ``experience=None``), then the model weights are loaded.

        Args:
            strict: refuse a checkpoint holding the state of a plugin that is not active here (resuming
                without it would silently drop that state); ``False`` (evaluation) only logs it.

        Raises:
            CheckpointError: unclaimed plugin state (``strict``), or weights that do not fit the model (a
                plugin that added modules is missing).
        """
        from lifelong_reid.errors import CheckpointError

        saved = state.get("plugins", {}) or {}
        claimed = set(self.plugin_state())
        unclaimed = sorted(set(saved) - claimed)
        if unclaimed:
            msg = (f"the checkpoint holds the state of {', '.join(map(repr, unclaimed))}, which no active plugin "
                   "claims (blocked, not activated or not installed)")
            if strict:
                raise CheckpointError(msg + "; activate it (--plugin NAME) or start a new run")
            log.warning(msg)
        if state.get("num_classes"):
            self.model.reset_classifier(state["num_classes"])
        self.pm.hook.lreid_load_state_dict(state=saved, strategy=self)
        self.pm.hook.lreid_adapt_model(model=self.model, experience=None, strategy=self)
        result = self.model.load_state_dict(state["model"], strict=False)
        if result.missing_keys or result.unexpected_keys:
            prefixes = sorted({k.split(".")[0] + ("." + k.split(".")[1] if "." in k else "")
                               for k in (*result.missing_keys, *result.unexpected_keys)})
            raise CheckpointError(f"the checkpoint's weights do not fit the model: {len(result.unexpected_keys)} "
                                  f"unexpected and {len(result.missing_keys)} missing tensors (under "
                                  f"{', '.join(prefixes[:6])}); activate the plugins that trained it (see its "
                                  "config.json 'plugins')")
        self.model.to(self.device)


#: Side information that must go through the image transforms (it costs transform time per image).
GEOMETRIC_SIDE_KEYS = frozenset({"part_boxes", "part_masks"})


def requested_side_info(pm) -> set:
    """The side-information keys (:data:`~lifelong_reid.data.SIDE_KEYS`) that registered plugins declare
    they read, in their ``side_info`` attribute."""
    keys: set = set()
    for _, plugin in pm.list_name_plugin():
        keys.update(getattr(plugin, "side_info", ()) or ())
    return keys


def check_loss_names(pm) -> None:
    """Refuse two registered plugins (or a plugin and the strategy) declaring the same loss name in their
    ``loss_names`` attribute.

    Raises:
        ConfigError: naming both owners and the name.
    """
    owner = {name: "the strategy" for name in STRATEGY_LOSSES}
    for name, plugin in pm.list_name_plugin():
        for loss in getattr(plugin, "loss_names", ()) or ():
            if loss in owner:
                raise ConfigError(f"loss name {loss!r} is declared by {owner[loss]} and by plugin {name!r}; rename one")
            owner[loss] = f"plugin {name!r}"
