"""``RunConfig``: every knob of a run, set by an experiment file and overridden from the command line."""
from __future__ import annotations

import dataclasses
import json
import typing
from math import isfinite
from dataclasses import dataclass, field
from typing import Any, Optional

from lifelong_reid.errors import ConfigError


@dataclass
class RunConfig:
    """What an experiment file defines as ``config``; ``lreid run`` overrides fields from its options
    (``--epochs``, ``--seed``, ``--device``, ``--data-root``, ``--output``) and from ``--set key=value``.

    Model:
        model: open_clip model name (``"ViT-B-16"``) or a bundled tiny config (``"lreid-tiny-vit"``).
        pretrained: open_clip pretrained tag (``"openai"``) or ``None`` for random initialisation.
        weights: local file with CLIP weights (used instead of ``pretrained``).
        image_size: ``[H, W]`` in pixels.
        stride: patch-embedding stride in pixels (``None``: the patch size; CLIP-ReID's overlap uses 12).
    Optimisation:
        epochs: epochs per experience. lr: base learning rate. weight_decay. optimizer: ``"adam"``,
        ``"adamw"`` or ``"sgd"``. lr_mults: ``{parameter-name prefix or dotted name part: multiplier}``, e.g.
        ``{"classifier": 10}`` (every classifier, plugin heads' too). bias_lr_mult: multiplier for biases
        (CLIP-ReID uses 2). scheduler: ``"multistep"`` (WarmupMultiStepLR: linear warm-up from
        ``warmup_factor`` over ``warmup_epochs``, then ``gamma`` at each of ``milestones``) or ``"cosine"``
        (linear warm-up from ``warmup_factor``, then cosine decay to ``min_lr_factor`` x lr at ``epochs``).
        scheduler_step: ``"epoch"`` (the schedule steps after each epoch) or ``"iteration"`` (after each
        optimizer step; ``warmup_epochs``, ``milestones`` and the cosine's ``epochs`` then count iterations, as
        VLADR's released code steps its WarmupMultiStepLR).
        classifier: ``"reset"`` (a new identity classifier per experience over its own identities, labels
        ``0..C_t-1``) or ``"grow"`` (one classifier over every identity trained so far: experience ``t``'s
        labels are offset by the identities of experiences ``0..t-1`` (:attr:`ReIDStrategy.class_offset`), the
        earlier rows are kept and new rows appended; VLADR's released code).
        batch_p, batch_k: identities per batch and images per identity (P x K sampler).
        sampler: ``"pk"`` (every image once per epoch in chunks of ``K``, torchreid's ``RandomIdentitySampler``)
        or ``"pk_camera"`` (an anchor and ``K - 1`` images from other cameras per identity, ``N / (P K)``
        batches per epoch: SpCL's / VLADR's ``RandomMultipleGallerySampler``).
        id_weight, triplet_weight, label_smoothing, triplet_margin: the ReID losses (``triplet_margin=None``:
            the soft-margin triplet ``log(1 + exp(d_ap - d_an))``, as MambaPro and TransReID's variants use).
        amp: ``None``, ``"bf16"`` or ``"fp16"`` autocast.
        nonfinite_loss: what a NaN or infinite loss does: ``"stop"`` (the run stops at that iteration with one
            line naming the loss term, the experience and the epoch; the checkpoints written so far are kept)
            or ``"skip"`` (that step is skipped, as AMP's grad scaler skips an overflowing one, and counted in
            ``results.json`` ``skipped_steps``).
    Evaluation:
        eval_metric: ``"cosine"`` (L2-normalised features, the default) or ``"euclidean"`` (squared).
        neck_feat: the retrieval feature ``feat``: ``"before"`` the BNNeck (``cat[global, global_proj]``,
        CLIP-ReID's ``TEST.NECK_FEAT: before``, the default) or ``"after"`` it (``cat[bn, bn_proj]``; plugin heads
        with ``retrieval`` give their ``NAME_bn``; VLADR's released code).
        rerank: k-reciprocal re-ranking (Zhong et al. 2017) with rerank_k1, rerank_k2, rerank_lambda.
    Data:
        data_root: root folder of datasets (``--data-root``). random_erasing: probability.
        num_workers: data-loading processes. eval_batch_size.
        modality_stacks: 1 = one stack of blocks for all modalities of a tuple; ``M`` = one stack per modality
        (GraFT's modality encoders).
    Plugins:
        plugins: ``{name: {setting: value}}``: the method plugins of the run and their settings (validated by
        each plugin's settings dataclass; ``--plugin NAME``, ``--set NAME.setting=value``). The saved
        ``config.json`` holds every setting, defaults included.
    Run:
        name, seed, device (``"cpu"``, ``"cuda"``, ``"auto"``), output (results folder).
        checkpoint_every: also checkpoint every this many epochs inside an experience (``0``: only at the end of
            each experience), so a killed run resumed with ``--resume`` loses at most that many epochs. Only the
            newest such epoch checkpoint is kept, and it is removed when its experience ends.
        keep_checkpoints: keep the checkpoints of the last this many experiences (``0``: every experience's).
        extra: free-form values for experiment files (``--set extra.key=value``).

    Every setting is type-checked and the numeric ones range-checked (:data:`RANGES`: ``lr > 0`` and finite,
    ``0 <= label_smoothing < 1``, ...) when the config is built and on every ``--set``, so a mistake stops the
    run before anything is written.

    Raises:
        ConfigError: a value of the wrong type, outside its range, or not among a field's choices.
    """

    name: str = "experiment"
    # model
    model: str = "ViT-B-16"
    pretrained: Optional[str] = "openai"
    weights: Optional[str] = None
    image_size: list = field(default_factory=lambda: [256, 128])
    stride: Optional[int] = None
    # optimisation
    epochs: int = 60
    lr: float = 5e-6
    weight_decay: float = 1e-4
    optimizer: str = "adam"
    lr_mults: dict = field(default_factory=dict)
    bias_lr_mult: float = 2.0
    scheduler: str = "multistep"
    scheduler_step: str = "epoch"
    warmup_epochs: int = 10
    warmup_factor: float = 0.1
    min_lr_factor: float = 0.0
    milestones: list = field(default_factory=lambda: [30, 50])
    gamma: float = 0.1
    classifier: str = "reset"
    batch_p: int = 16
    batch_k: int = 4
    sampler: str = "pk"
    id_weight: float = 1.0
    triplet_weight: float = 1.0
    label_smoothing: float = 0.1
    triplet_margin: Optional[float] = 0.3
    amp: Optional[str] = None
    nonfinite_loss: str = "stop"
    modality_stacks: int = 1
    # evaluation
    eval_metric: str = "cosine"
    neck_feat: str = "before"
    rerank: bool = False
    rerank_k1: int = 20
    rerank_k2: int = 6
    rerank_lambda: float = 0.3
    # data
    data_root: Optional[str] = None
    random_erasing: float = 0.0
    num_workers: int = 0
    eval_batch_size: int = 128
    # run
    seed: int = 0
    device: str = "auto"
    output: Optional[str] = None
    checkpoint_every: int = 5
    keep_checkpoints: int = 2
    plugins: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        for key, allowed in CHOICES.items():
            _check_choice(key, getattr(self, key), allowed)
        for key in RANGES:
            check_range(key, getattr(self, key))
        if not isinstance(self.plugins, dict) or not all(isinstance(v, dict) for v in self.plugins.values()):
            raise ConfigError(f"plugins must map plugin names to settings dicts, e.g. {{'vladr': {{}}}}, got "
                              f"{self.plugins!r}")

    def to_dict(self) -> dict:
        """A JSON-serialisable copy."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def override(self, assignment: str) -> None:
        """Apply one ``key=value`` override (``--set``).

        The value is parsed as JSON when it parses (``5``, ``1e-4``, ``[256,128]``, ``null``, ``true``),
        else kept as a string. ``extra.KEY=...`` sets a free-form entry; ``NAME.SETTING=...`` a setting of the
        active plugin ``NAME`` (checked by its settings dataclass).

        Raises:
            ConfigError: no ``=``, an unknown key, a value of the wrong type, or a plugin that is not active.
        """
        if "=" not in assignment:
            raise ConfigError(f"--set {assignment!r}: expected key=value, e.g. --set lr=1e-4")
        key, raw = assignment.split("=", 1)
        key = key.strip()
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if key.startswith("extra."):
            self.extra[key[len("extra."):]] = value
            return
        if "." in key:
            self.set_plugin_setting(*key.split(".", 1), value)
            return
        hint = typing.get_type_hints(RunConfig).get(key)
        if hint in (str, Optional[str]) and not isinstance(value, str) and value is not None:
            value = raw  # a string field: "--set name=2024" is the text 2024
        self.set(key, value)

    def set_plugin_setting(self, plugin: str, setting: str, value: Any) -> None:
        """Set ``plugins[plugin][setting]`` after the plugin's settings dataclass accepts it.

        Raises:
            ConfigError: unknown plugin or setting, a refused value, or a plugin not active in this run.
        """
        from lifelong_reid.registry import get_plugin_info

        info = get_plugin_info(plugin)
        if plugin not in self.plugins:
            active = ", ".join(self.plugins) or "none"
            raise ConfigError(f"--set {plugin}.{setting}: plugin {plugin!r} is not active in this run (active: "
                              f"{active}); add --plugin {plugin}")
        trial = {**self.plugins[plugin], setting: value}
        validated = info.validate(trial)
        self.plugins[plugin] = {**trial, setting: getattr(validated, setting)}

    def set(self, key: str, value: Any) -> None:
        """Set field ``key`` to ``value`` after checking its type.

        Raises:
            ConfigError: unknown key or value of the wrong type.
        """
        fields = {f.name: f for f in dataclasses.fields(self)}
        if key not in fields:
            close = [k for k in fields if k.startswith(key[:3])]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(f"unknown config key {key!r}{hint}; known keys: {', '.join(fields)}")
        value = coerce(key, value, typing.get_type_hints(RunConfig)[key])
        if key in CHOICES:
            _check_choice(key, value, CHOICES[key])
        check_range(key, value)
        setattr(self, key, value)


#: Fields that take one of a fixed set of values.
CHOICES = {"optimizer": ("adam", "adamw", "sgd"), "scheduler": ("multistep", "cosine"), "amp": (None, "bf16", "fp16"),
           "eval_metric": ("cosine", "euclidean"), "nonfinite_loss": ("stop", "skip"),
           "scheduler_step": ("epoch", "iteration"), "classifier": ("reset", "grow"), "neck_feat": ("before", "after"),
           "sampler": ("pk", "pk_camera")}


#: Numeric settings with a valid range: ``{key: (test, what the value must be)}``; ``None`` passes where the
#: type allows it.
RANGES = {
    "lr": (lambda v: isfinite(v) and v > 0, "a finite number > 0"),
    "weight_decay": (lambda v: isfinite(v) and v >= 0, "a finite number >= 0"),
    "bias_lr_mult": (lambda v: isfinite(v) and v > 0, "a finite number > 0"),
    "warmup_factor": (lambda v: isfinite(v) and 0 < v <= 1, "in (0, 1]"),
    "min_lr_factor": (lambda v: isfinite(v) and 0 <= v <= 1, "in [0, 1]"),
    "gamma": (lambda v: isfinite(v) and 0 < v <= 1, "in (0, 1]"),
    "epochs": (lambda v: v >= 0, "an integer >= 0 (0: evaluate only)"),
    "warmup_epochs": (lambda v: v >= 0, "an integer >= 0"),
    "batch_p": (lambda v: v >= 1, "an integer >= 1"),
    "batch_k": (lambda v: v >= 1, "an integer >= 1"),
    "id_weight": (lambda v: isfinite(v) and v >= 0, "a finite number >= 0"),
    "triplet_weight": (lambda v: isfinite(v) and v >= 0, "a finite number >= 0"),
    "label_smoothing": (lambda v: isfinite(v) and 0 <= v < 1, "in [0, 1)"),
    "triplet_margin": (lambda v: isfinite(v) and v > 0, "a finite number > 0, or null for the soft margin"),
    "modality_stacks": (lambda v: v >= 1, "an integer >= 1"),
    "rerank_k1": (lambda v: v >= 1, "an integer >= 1"),
    "rerank_k2": (lambda v: v >= 1, "an integer >= 1"),
    "rerank_lambda": (lambda v: isfinite(v) and 0 <= v <= 1, "in [0, 1]"),
    "random_erasing": (lambda v: isfinite(v) and 0 <= v <= 1, "a probability in [0, 1]"),
    "num_workers": (lambda v: v >= 0, "an integer >= 0"),
    "eval_batch_size": (lambda v: v >= 1, "an integer >= 1"),
    "stride": (lambda v: v >= 1, "an integer >= 1, or null for the patch size"),
    "checkpoint_every": (lambda v: v >= 0, "an integer >= 0 (0: only at the end of each experience)"),
    "keep_checkpoints": (lambda v: v >= 0, "an integer >= 0 (0: keep every experience's)"),
}


def check_range(key: str, value: Any) -> None:
    """Refuse a value of setting ``key`` outside :data:`RANGES` (``None`` is left to the type check).

    Raises:
        ConfigError: naming the key, the value and the valid range.
    """
    if key in RANGES and value is not None and not RANGES[key][0](value):
        raise ConfigError(f"{key} must be {RANGES[key][1]}, got {value!r} (--set {key}=...)")


def _check_choice(key: str, value: Any, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def coerce(key: str, value: Any, hint) -> Any:
    """Check ``value`` against the type ``hint`` of setting ``key`` (JSON values from ``--set``): ints are
    accepted for floats, ``None`` for ``Optional``; lists for tuples.

    Raises:
        ConfigError: a value of the wrong type, naming ``key``.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(key, value, a)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: bad value {value!r}")
    if hint is Any:
        return value
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key} expects a number, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key} expects an integer, got {value!r}")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} expects true or false, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key} expects a string, got {value!r}")
    if origin in (list, tuple) or hint in (list, tuple):
        if isinstance(value, (list, tuple)):
            return type(value)(value) if origin is None else (list(value) if origin is list else tuple(value))
        raise ConfigError(f"{key} expects a list, got {value!r}")
    if origin is dict or hint is dict:
        if isinstance(value, dict):
            return value
        raise ConfigError(f"{key} expects a mapping, got {value!r}")
    return value
