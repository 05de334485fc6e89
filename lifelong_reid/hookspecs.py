"""Hook specifications: every point where a plugin can change a run.

A plugin is a module, class instance or experiment file with functions marked ``@lifelong_reid.hookimpl``
and named after a spec below. An implementation may accept any subset of a spec's arguments, so specs can
gain arguments without breaking plugins. Hooks are called by the strategy (``strategy/``) and the vision
encoder (``models/vision.py``); Avalanche's own callbacks reach them through one bridge
(``lifelong_reid/bridge.py``).

Grouped by phase: registration, model, vision forward, losses, boundaries, inference, checkpoint state.
Names: ``B`` batch, ``N`` tokens, ``D`` encoder width, ``F`` retrieval feature size.
"""
from __future__ import annotations

from lifelong_reid.hooks import hookspec

# --------------------------------------------------------------------------- model


@hookspec
def lreid_adapt_model(model, experience, strategy):
    """Model surgery before training on ``experience``: add modules (prompts, adapters, fusion tokens, a
    part-mask branch), freeze or unfreeze parameters. Called after the identity classifier has been sized
    for the experience and before the optimizer is built, so new parameters are optimized.

    Args:
        model: the :class:`~lifelong_reid.models.CLIPReID`.
        experience: the Avalanche experience about to be trained.
        strategy: the :class:`~lifelong_reid.strategy.ReIDStrategy`.

    Returns:
        ``None``.
    """


@hookspec
def lreid_param_groups(model, strategy):
    """Extra optimizer parameter groups for parameters a plugin owns.

    Returns:
        a list of dicts ``{"params": [...], "lr_mult": float, "weight_decay": float (optional),
        "name": str}``, or ``None``. Parameters returned here are removed from the default groups.
    """


# --------------------------------------------------------------------------- vision forward


@hookspec
def lreid_vision_block_start(layer_index, context, encoder):
    """Before transformer block ``layer_index`` (0-based): add, read or remove extra tokens with
    ``context.add_tokens(name, tensor)`` / ``get_tokens`` / ``pop_tokens`` (deep prompts, part tokens,
    fusion tokens). ``context.tokens`` is ``(B, N, D)``.

    Returns:
        ``None``.
    """


@hookspec
def lreid_vision_attention_mask(layer_index, context, encoder):
    """An additive attention mask for block ``layer_index``: ``(N, N)`` or ``(B, N, N)`` with ``0`` where
    attention is allowed and ``-inf`` (or a large negative number) where it is blocked. Masks of all plugins
    are summed.

    Returns:
        a tensor or ``None``.
    """


@hookspec
def lreid_vision_block_end(layer_index, context, encoder):
    """After block ``layer_index``: read intermediate tokens (``context.tokens``), remove tokens added for
    this layer only.

    Returns:
        ``None``.
    """


# --------------------------------------------------------------------------- losses


@hookspec
def lreid_extra_losses(outputs, batch, strategy):
    """Extra loss terms for one training mini-batch.

    Args:
        outputs: the model's output dict (``feat``, ``global``, ``bn``, ``logits``, ``tokens``, ...).
        batch: ``{"images": (B,3,H,W), "targets": (B,), "pids": (B,), "camids": (B,), "indices": (B,)}``.
        strategy: the strategy (``strategy.experience``, ``strategy.epoch``, ``strategy.model``).

    Returns:
        ``{name: scalar tensor}`` (already weighted) or ``None``. Each term is added to the loss and logged
        under its name; a name used by two plugins is an error.
    """


# --------------------------------------------------------------------------- boundaries


@hookspec
def lreid_before_experience(strategy, experience):
    """Before training on ``experience`` (after model adaptation and optimizer set-up): stage-1 prompt
    learning, memory set-up, pseudo-labelling.

    Returns:
        ``None``.
    """


@hookspec
def lreid_after_experience(strategy, experience):
    """After training on ``experience``, before its evaluation: prototype memory update, weight
    interpolation with the previous model.

    Returns:
        ``None``.
    """


@hookspec
def lreid_before_epoch(strategy, epoch):
    """Before training epoch ``epoch`` (0-based) of the current experience: re-clustering, re-labelling.

    Returns:
        ``None``.
    """


@hookspec
def lreid_after_epoch(strategy, epoch, losses):
    """After training epoch ``epoch``; ``losses`` maps each loss term's name to its epoch mean.

    Returns:
        ``None``.
    """


# --------------------------------------------------------------------------- inference


@hookspec(firstresult=True)
def lreid_inference_embedding(outputs, model):
    """The retrieval feature ``(B, F)`` from the model's outputs at evaluation time (before L2
    normalisation). The first non-``None`` result wins; the built-in ``core`` plugin returns
    ``outputs["feat"]`` last, so a plugin overrides it by returning a tensor (e.g. global + part tokens).
    """


# --------------------------------------------------------------------------- checkpoint state


@hookspec
def lreid_state_dict(strategy):
    """State to save in each checkpoint (memories, prompt banks, OT state).

    Returns:
        ``{key: state}`` with a key unique to the plugin (e.g. its name), or ``None``.
    """


@hookspec
def lreid_load_state_dict(state, strategy):
    """Restore what :func:`lreid_state_dict` saved. ``state`` is the merged ``{key: state}`` of all plugins;
    take your own key. Called on ``--resume`` before the model weights are loaded: a plugin that added
    modules to the model in :func:`lreid_adapt_model` re-creates them here so that their weights load.

    Returns:
        ``None``.
    """
