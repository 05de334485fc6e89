"""Hook specifications: every point where a plugin can change a run (Plugin API :data:`API_VERSION`).

A plugin is a module, class instance or experiment file with functions marked ``@lifelong_reid.hookimpl``
and named after a spec below. An implementation may accept any subset of a spec's arguments, so specs can
gain arguments without breaking plugins (a minor version of the API adds arguments or hooks; only a major
version removes or changes one). Hooks are called by the strategy (``strategy/``), the model
(``models/clip_reid.py``) and the vision encoder (``models/vision.py``); Avalanche's own callbacks reach
them through one bridge (``lifelong_reid/bridge.py``).

Order: implementations run last-registered first; mark one ``@hookimpl(tryfirst=True)`` or
``@hookimpl(trylast=True)`` when its place matters (the plugin guide has a case where it does).

Grouped by phase: model, vision forward, model outputs, targets, losses and iterations, boundaries,
inference, checkpoint state. The hook reference (``docs/hooks.md``) is generated from these docstrings
(``python -m lifelong_reid.hookdoc``). Names: ``B`` batch, ``M`` modalities per sample, ``N`` tokens, ``D``
encoder width, ``F`` retrieval feature size, ``C`` identity classes.
"""
from __future__ import annotations

from lifelong_reid.hooks import hookspec

#: The Plugin API version these specs define (major, minor).
API_VERSION = (1, 2)

# --------------------------------------------------------------------------- model


@hookspec
def lreid_adapt_model(model, experience, strategy):
    """Model surgery: add modules (prompts, adapters with ``model.visual.add_adapter``, heads with
    ``model.add_head``, fusion tokens, a part-mask branch), freeze or unfreeze parameters.

    Called: before training on each experience, after the identity classifiers have been sized for it and
    before the optimizer is built (so new parameters are optimized); and with ``experience=None`` when a
    model is rebuilt to load a checkpoint (``--resume``, ``lreid eval``, ``lreid search``), before its weights
    load. Modules a plugin adds must be (re)created here, idempotently.

    Args:
        model: the :class:`~lifelong_reid.models.CLIPReID`.
        experience: the Avalanche experience about to be trained, or ``None`` (checkpoint rebuild).
        strategy: the :class:`~lifelong_reid.strategy.ReIDStrategy`.

    Returns:
        ``None``.
    """


@hookspec
def lreid_param_groups(model, strategy):
    """Extra optimizer parameter groups for parameters a plugin owns.

    Called: whenever the optimizer is built (each experience, and on ``strategy.rebuild_optimizer()``).

    Args:
        model: the model. strategy: the strategy.

    Returns:
        a list of dicts ``{"params": [...], "lr_mult": float, "weight_decay": float (optional),
        "name": str}``, or ``None``. Parameters returned here are removed from the default groups; frozen
        ones (``requires_grad=False``) are left out.
    """


# --------------------------------------------------------------------------- vision forward


@hookspec
def lreid_vision_embed_tokens(context, encoder):
    """Token embedding: the sequences hold ``[CLS, patches]`` with their positional embedding, before
    ``ln_pre``. Add tokens with their own positional embedding
    (``context.add_tokens(name, t, pos_embed=encoder.positional_embedding[:1])`` for tokens that share the
    CLS position, as MUVA's local tokens), or add a camera / view embedding
    (``context.set_tokens("cls", context.get_tokens("cls") + e)``, as SIE).

    Called: once per forward pass, before ``ln_pre`` and the first block.

    Args:
        context: the :class:`~lifelong_reid.models.VisionContext` (``tokens`` ``(B*M, N, D)``, ``view()``,
            ``batch`` with ``camids``, ``modality``, ...).
        encoder: the :class:`~lifelong_reid.models.ReIDVisionEncoder`.

    Returns:
        ``None``.
    """


@hookspec
def lreid_vision_block_start(layer_index, context, encoder):
    """Before transformer block ``layer_index`` (0-based): add, read or remove tokens with
    ``context.add_tokens(name, tensor)`` / ``get_tokens`` / ``set_tokens`` / ``pop_tokens`` (deep prompts,
    per-modality prompts with ``per_modality=True``, part or fusion tokens).

    Called: for every block of every forward pass.

    Args:
        layer_index: the block about to run. context: the vision context (``tokens`` ``(B*M, N, D)``).
        encoder: the encoder.

    Returns:
        ``None``.
    """


@hookspec
def lreid_vision_attention_mask(layer_index, context, encoder):
    """An additive attention mask for block ``layer_index``.

    Called: for every block, after :func:`lreid_vision_block_start`; the masks of all plugins are summed.

    Args:
        layer_index: the block about to run. context: the vision context (``num_tokens``, ``spans``).
        encoder: the encoder.

    Returns:
        ``(N, N)``, ``(B, N, N)`` (shared by a sample's modalities), ``(B*M, N, N)`` or ``(B, M, N, N)``
        with ``0`` where attention is allowed and ``-inf`` (or a large negative number) where it is
        blocked, or ``None``. Rows are queries, columns keys.
    """


@hookspec
def lreid_vision_exchange(layer_index, context, encoder):
    """The cross-modal exchange point after block ``layer_index``: read and write the ``(B, M, n, D)``
    views of the modalities' tokens (``context.get_tokens(name, view=True)``, ``context.set_tokens``), e.g.
    average fusion tokens over modalities (GraFT) or pass prompts from one modality to the others (MambaPro).

    Called: after every block, only for multi-modal tuples (``context.num_modalities > 1``), before
    :func:`lreid_vision_block_end`.

    Args:
        layer_index: the block that just ran. context: the vision context. encoder: the encoder.

    Returns:
        ``None``.
    """


@hookspec
def lreid_vision_block_end(layer_index, context, encoder):
    """After block ``layer_index``: read intermediate tokens, record per-layer values for a loss
    (``context.record(name, value)``), remove tokens added for this layer only.

    Called: for every block, after the block (and after :func:`lreid_vision_exchange` for tuples).

    Args:
        layer_index: the block that just ran. context: the vision context. encoder: the encoder.

    Returns:
        ``None``.
    """


# --------------------------------------------------------------------------- model outputs


@hookspec
def lreid_model_outputs(outputs, context, model):
    """Add named outputs computed from the final tokens: the feature of a head the plugin declared with
    ``model.add_head(name, dim)`` (``outputs[name] = (B, dim)``), part features, fused features. Read
    the model's outputs by name (``outputs["global_proj"]``, ``outputs["patch_tokens"]``,
    ``context.get_tokens("my_tokens")``), never by position inside a concatenated vector.

    Called: at the end of every forward pass, after ``global``/``global_proj``/``tokens`` are set and before
    the heads (BNNeck, classifiers) and ``feat`` are computed.

    Args:
        outputs: the :class:`~lifelong_reid.models.ModelOutputs` so far. context: the final vision context.
        model: the model.

    Returns:
        ``None`` (write into ``outputs``).
    """


# --------------------------------------------------------------------------- targets


@hookspec(firstresult=True)
def lreid_assign_targets(strategy, experience, dataset, epoch, iteration):
    """Assign training targets (pseudo-labels) to the experience's samples.

    Called: before every training epoch (``iteration=None``), and after every training iteration
    (``iteration`` = iterations done in this epoch) for plugins that re-label more often; return ``None``
    to keep the current targets. The first non-``None`` result wins. Targets live in one place,
    ``strategy.targets``: after a change the strategy rebuilds the P x K sampler (at the next epoch), resizes
    the identity classifiers and rebuilds the optimizer. Unsupervised streams (targets ``-1``) need a
    plugin implementing this hook.

    Args:
        strategy: the strategy (``strategy.targets``: current ``(N,)`` targets; ``strategy.embed(dataset)``
            extracts features with modality and camera of every sample).
        experience: the experience being trained. dataset: its training dataset in eval mode (no
            augmentation), in sample order. epoch: the epoch about to start (0-based). iteration: ``None`` at
            an epoch start, else iterations done.

    Returns:
        ``(N,)`` integer targets (``-1`` = sample not used), or ``None``.
    """


# --------------------------------------------------------------------------- losses and iterations


@hookspec
def lreid_train_views(strategy):
    """Extra augmented views of every training image, each drawn by its own transform from the stored image
    (not from the strategy's view): the strong RandAugment view of FixMatch-style and VLADR's released code.

    Called: once per experience, when the training loader is built (after ``make_train_dataloader`` has set
    ``strategy.targets``).

    Args:
        strategy: the strategy (``strategy.config.image_size``, ``strategy.experience``).

    Returns:
        ``{name: transform}`` or ``None``: each transform maps what the dataset stores for a sample (a PIL
        image; a list of PIL images for a multi-modal tuple) to a float tensor of the training images' shape.
        Every training batch then carries ``batch.side["views"][name]``, ``(B, 3, H, W)`` (or ``(B, M, 3, H,
        W)``), sample for sample with ``batch.images``; the transforms run in the loader's workers. Names must
        be unique over plugins (prefix them with the plugin's name); a clash is refused when the loader is
        built. The views cost one more image read and transform per sample and view, and only training
        batches carry them. Added in API 1.2.
    """




@hookspec
def lreid_extra_losses(outputs, batch, strategy):
    """Extra loss terms for one training mini-batch.

    Called: for every training iteration, after the forward pass, with the strategy's identity and triplet
    terms (over every head that asks for them) already computed.

    Args:
        outputs: the model's :class:`~lifelong_reid.models.ModelOutputs` (``feat``, ``global``,
            ``global_proj``, ``bn``, ``logits``, ``tokens``, ``patch_tokens``, ``records``, plugin heads, ...).
        batch: the :class:`~lifelong_reid.data.ReIDBatch` (``images``, ``targets``, ``pids``, ``camids``,
            ``indices``, ``domain``, ``modality``, ``side``; part boxes and masks are in ``side`` when a plugin
            declares them in its ``side_info``).
        strategy: the strategy (``strategy.experience``, ``strategy.epoch``, ``strategy.model``).

    Returns:
        ``{name: scalar tensor}`` (already weighted) or ``None``. Each term is added to the loss and logged
        under its name. Declare the names in the plugin's ``loss_names`` so that a clash between plugins is
        refused when they are registered; a clash found at run time names both plugins.
    """


@hookspec
def lreid_after_optimizer_step(strategy, batch, outputs):
    """After the optimizer step of a training iteration: momentum (EMA) updates of memories, prototypes or
    a mean-teacher model.

    Called: for every training iteration, after ``optimizer.step()`` (and the grad scaler's update).

    Args:
        strategy: the strategy. batch: the iteration's :class:`~lifelong_reid.data.ReIDBatch`.
        outputs: the iteration's model outputs (detach before keeping them).

    Under several processes (``torchrun``), ``batch`` and ``outputs`` are this rank's share of the global
    batch: update state from ``lifelong_reid.distributed.all_gather_cat(tensor)`` (the global batch, in rank
    order; the tensor itself when there is one process) so that every rank keeps the same state.

    Returns:
        ``None``.
    """


# --------------------------------------------------------------------------- boundaries


@hookspec
def lreid_before_experience(strategy, experience):
    """Stage-1 prompt learning, memory set-up, taking a copy of the model (``strategy.model.frozen_copy()``).

    Called: before training on ``experience``, after model adaptation and optimizer set-up. A plugin that
    changes which parameters train calls ``strategy.rebuild_optimizer()``.

    Args:
        strategy: the strategy. experience: the experience about to be trained.

    Returns:
        ``None``.
    """


@hookspec
def lreid_after_experience(strategy, experience):
    """Prototype memory update, weight interpolation with the previous model.

    Called: after training on ``experience``, before its evaluation and checkpoint.

    Args:
        strategy: the strategy. experience: the experience just trained.

    Returns:
        ``None``.
    """


@hookspec
def lreid_before_epoch(strategy, epoch):
    """Re-clustering, unfreezing a backbone for a second stage (then ``strategy.rebuild_optimizer()``).

    Called: before training epoch ``epoch`` (0-based) of the current experience, after
    :func:`lreid_assign_targets`.

    Args:
        strategy: the strategy. epoch: the epoch about to start.

    Returns:
        ``None``.
    """


@hookspec
def lreid_after_epoch(strategy, epoch, losses):
    """Per-epoch bookkeeping (logging, memory rebuilds).

    Called: after training epoch ``epoch``, before the learning-rate schedule steps.

    Args:
        strategy: the strategy. epoch: the epoch just trained. losses: each loss term's epoch mean, by name.

    Returns:
        ``None``.
    """


# --------------------------------------------------------------------------- inference


@hookspec(firstresult=True)
def lreid_inference_embedding(outputs, model):
    """The retrieval feature at evaluation time (before L2 normalisation).

    Called: for every evaluation mini-batch. The first non-``None`` result wins; the built-in ``core``
    plugin returns ``outputs["feat"]`` last, so a plugin overrides it by returning a tensor. A plugin whose
    head should simply join the retrieval feature declares it with ``model.add_head(..., retrieval=True)``
    instead.

    Args:
        outputs: the model's outputs. model: the model.

    Returns:
        ``(B, F)`` tensor or ``None``.
    """


@hookspec
def lreid_report_sections(strategy, folder):
    """Sections a plugin adds to the run's ``report.md``: figures of what it learnt (part masks, prototype
    memories), tables of its own diagnostics. Write figures into ``folder`` and link them by file name.

    Called: once, when ``lreid run`` or ``lreid eval`` writes the report, after the last evaluation (the
    evaluated domains' features and images are in ``strategy.domain_features``). Added in API 1.1.

    Args:
        strategy: the strategy (its model carries the plugin relay). folder: the run's output folder.

    Returns:
        a list of ``(title, markdown)`` pairs, or ``None``.
    """


# --------------------------------------------------------------------------- checkpoint state


@hookspec
def lreid_state_dict(strategy):
    """State to save in each checkpoint (memories, prompt banks, OT state, counters).

    Called: when a checkpoint is written (after each experience).

    Args:
        strategy: the strategy.

    Returns:
        ``{key: state}`` with a key unique to the plugin (its registry name), or ``None``. Tensors, numbers,
        strings, lists and dicts only.
    """


@hookspec
def lreid_load_state_dict(state, strategy):
    """Restore what :func:`lreid_state_dict` saved.

    Called: when a checkpoint is loaded (``--resume``, ``lreid eval``, ``lreid search``), before
    :func:`lreid_adapt_model` (``experience=None``) and before the model weights load. A run resumed from an
    epoch checkpoint (``checkpoint_every``) calls it inside the experience, after that experience's
    :func:`lreid_before_experience` and :func:`lreid_adapt_model` ran: the state then replaces the plugin's live
    state (a teacher model, memories, banks sized to the saved state), and must hold everything the next epoch
    depends on (the contract test ``epoch_resume_matches`` checks it).

    Args:
        state: the merged ``{key: state}`` of all plugins; take your own key. strategy: the strategy.

    Returns:
        ``None``.
    """
