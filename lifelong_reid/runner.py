"""Running an experiment: evaluate the initial model, train each experience, evaluate, checkpoint.

The output folder holds ``results.json`` (rewritten after every experience), ``report.md`` with the
matrix heat-maps (at the end), ``run.log``, ``losses.log`` (flushed after every epoch), ``config.json``
(the config with every active plugin's settings, and the active plugins with their versions) and
``checkpoints/exp{t}_{domain}.pt`` (after experience ``t``; the last ``keep_checkpoints`` are kept) and, every
``checkpoint_every`` epochs inside an experience, ``checkpoints/exp{t}_{domain}_epoch{e}.pt`` (only the newest,
removed when the experience ends), all written atomically. A run resumed with ``resume=True`` restarts after
the last checkpoint, refusing a config that differs from the saved one; since every experience is seeded from
``(seed, experience index)`` and an epoch checkpoint holds the optimizer, schedule, random generators and
plugin state, its ``results.json`` and ``losses.log`` equal those of an uninterrupted run.

Before anything is written, the run checks what a user can get wrong: the output folder (another run's,
unwritable), the P x K batch against each training domain, and every image of every domain (decoded in
full, :mod:`lifelong_reid.data.image_check`). Temporary files an interrupted write left are removed.
"""
from __future__ import annotations

import functools
import logging
import os
import random
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from avalanche.logging import TextLogger

from lifelong_reid import distributed as dist
from lifelong_reid.config import RunConfig
from lifelong_reid.data.image_check import require_images
from lifelong_reid.data.side_info import count_boxes_outside
from lifelong_reid.errors import CheckpointError, ConfigError
from lifelong_reid.evaluation.lifelong import AccuracyMatrix
from lifelong_reid.evaluation.report import (evaluation_settings, format_value, group_labels, plugin_sections,
                                             run_setting, write_report, write_visuals)
from lifelong_reid.models import build_model
from lifelong_reid.registry import describe_active
from lifelong_reid.strategy import ReIDStrategy
from lifelong_reid.strategy.checkpoint import (atomic_write_json, checkpoint_name, latest_checkpoint, load_checkpoint,
                                               prune_checkpoints, remove_orphans, save_checkpoint)
from lifelong_reid.strategy.resume import training_state

log = logging.getLogger("lifelong_reid")
#: Config fields that may differ between a checkpoint and a resumed run (where and how fast it runs, not
#: what it computes); every other field, plugin settings included, must match.
RESUME_EXEMPT = ("device", "output", "data_root", "num_workers", "eval_batch_size", "checkpoint_every",
                 "keep_checkpoints")


def seed_everything(seed: int, experience: int = 0) -> None:
    """Seed Python, NumPy and torch from ``(seed, experience)``, so that each experience's training depends
    only on them and on the model it starts from."""
    s = seed * 1000 + experience
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


def _attach_log_file(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("lifelong_reid")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False  # details go to run.log; the console shows progress and the summary
    return handler


def config_differences(saved: dict, config: RunConfig) -> list[str]:
    """Names of the config fields (``plugins.NAME`` for a plugin's settings) that differ between a saved
    config and ``config``, ignoring :data:`RESUME_EXEMPT`."""
    now, defaults = config.to_dict(), RunConfig().to_dict()  # a field newer than the checkpoint: its default
    diff = [k for k in now if k not in RESUME_EXEMPT and k != "plugins" and saved.get(k, defaults[k]) != now[k]]
    saved_plugins, plugins = saved.get("plugins", {}) or {}, now.get("plugins", {})
    diff += [f"plugins.{name}" for name in sorted(set(saved_plugins) | set(plugins))
             if saved_plugins.get(name) != plugins.get(name)]
    return diff


def results_dict(config: RunConfig, benchmark, matrix: AccuracyMatrix, complete: bool,
                 plugins: Optional[list] = None, skipped_steps: int = 0) -> dict:
    """The ``results.json`` content (values in percent; ``per_domain`` also counts the queries and those with
    a valid gallery match, ``num_queries`` / ``num_valid_queries``; ``skipped_steps``: training steps skipped
    for a non-finite loss under ``nonfinite_loss="skip"``)."""
    return {
        "experiment": config.name,
        "stream": benchmark.name,
        "seed": config.seed,
        "setting": run_setting(len(benchmark.train_domains)),
        "evaluation": evaluation_settings(config, benchmark.protocol),
        "plugins": plugins or [],
        "domains": {"seen": benchmark.seen_domains, "unseen": list(benchmark.unseen_domains)},
        "matrix": matrix.to_dict(),
        "final": matrix.final(),
        "lifelong": matrix.lifelong(),
        "per_domain": matrix.per_domain,
        "skipped_steps": skipped_steps,
        "complete": complete,
    }


def preflight(benchmark, progress: Optional[bool] = None, echo=print) -> None:
    """Decode every image of every on-disk domain (train, query, gallery) before the first experience, so a
    broken file stops the run before any training (:mod:`lifelong_reid.data.image_check` gives the rule;
    images that decoded before are cached by size and modification time).

    Raises:
        ImageReadError: naming the first file that cannot be used and how many others fail.
    """
    for d in benchmark.domains.values():
        for line in d.warnings:
            echo(f"warning: {d.name}: {line}")
    on_disk = [d for d in benchmark.domains.values() if d.image_loader is None]
    paths = [path for d in on_disk for path in d.image_paths()]
    if not paths:
        return
    report = require_images(paths, progress=progress)
    log.info("%s", report.summary())
    if report.warnings or report.decoded:
        echo(report.summary())
    for d in on_disk:
        clipped, dropped = count_boxes_outside(d.all_samples(), report.sizes)
        if clipped or dropped:
            echo(f"warning: {d.name}: {clipped} part boxes extend beyond their image (clipped to it), {dropped} lie "
                 "wholly outside it (that part gets no box)")


def run_experiment(config: RunConfig, benchmark, pm, output: Path, resume: bool = False,
                   progress: Optional[bool] = None, echo=print) -> dict:
    """Run ``benchmark`` with ``config``; returns the ``results.json`` content.

    Raises:
        ConfigError: ``output`` already holds a run and ``resume`` is false.
        CheckpointError: the checkpoint to resume was made with a different config.
    """
    output = Path(output)
    main = dist.is_main()  # under several processes only rank 0 writes and prints
    echo = echo if main else (lambda *a, **k: None)
    ckpt_dir = output / "checkpoints"
    previous = latest_checkpoint(ckpt_dir)
    if not resume and (previous is not None or (output / "results.json").exists()):
        raise ConfigError(f"{output} already holds a run; continue it with --resume or choose another --output")
    check_batch_fits(config, benchmark)  # user mistakes stop here, before anything is written
    state = _resumable_state(previous, config, benchmark) if resume and previous is not None else None
    preflight(benchmark, progress, echo)
    removed = []
    if main:
        require_writable(output, "--output")
        removed = remove_orphans(output)
    dist.barrier()  # the other ranks start once the folder is ready
    handler = _attach_log_file(output / "run.log") if main else logging.NullHandler()
    try:
        if removed:
            log.info("removed %d temporary file(s) left by an interrupted write: %s", len(removed),
                     ", ".join(p.name for p in removed))
        return _run(config, benchmark, pm, output, ckpt_dir, previous if resume else None, state, progress, echo)
    finally:
        logging.getLogger("lifelong_reid").removeHandler(handler)
        handler.close()


def _evaluate(strategy, benchmark, echo, keep_features: bool = False) -> dict:
    """:meth:`~lifelong_reid.strategy.ReIDStrategy.evaluate_domains`, saying how many queries of each domain
    have no valid gallery match under its protocol (they are left out of every metric, as torchreid does)."""
    results = strategy.evaluate_domains(benchmark, keep_features=keep_features)
    for name, r in results.items():
        skipped = r.get("num_queries", 0) - r.get("num_valid_queries", r.get("num_queries", 0))
        if skipped > 0:
            echo(f"{name}: {skipped} of {r['num_queries']} queries have no valid gallery match under the "
                 "protocol and are left out of its metrics (num_valid_queries in results.json)")
    return results


def _epoch_checkpoint(config, benchmark, strategy, matrix, ckpt_dir, t, domain, loss_log, start_checkpoint,
                      epochs_done) -> None:
    """Every ``config.checkpoint_every`` epochs inside experience ``t`` (0-based), save what resuming there
    needs (:func:`~lifelong_reid.strategy.resume.training_state`) and the name of the checkpoint the
    experience started from; the previous epoch checkpoint is then removed."""
    if (not config.checkpoint_every or epochs_done % config.checkpoint_every or epochs_done >= config.epochs
            or not dist.is_main()):
        return
    loss_log.flush()
    save_checkpoint(ckpt_dir, t + 1, domain, {
        "training": training_state(strategy), "matrix": matrix.to_dict(), "per_domain": matrix.per_domain,
        "experiences_done": t, "epochs_done": epochs_done, "start_checkpoint": start_checkpoint,
        "config": config.to_dict(), "stream": benchmark.name, "losses_log_bytes": loss_log.tell()},
        epoch=epochs_done)
    prune_checkpoints(ckpt_dir, config.keep_checkpoints)


def check_batch_fits(config: RunConfig, benchmark) -> None:
    """Refuse a P x K batch that a supervised training domain cannot fill (fewer than ``batch_p``
    identities), before the initial evaluation rather than at the first experience.

    Raises:
        ConfigError: naming the domain, its identity count and ``batch_p``.
    """
    for name in benchmark.train_domains:
        if name in benchmark.unsupervised:
            continue  # pseudo-identities are only known once the plugin has clustered
        d = benchmark.domains.get(name)
        if d is None:
            continue
        ids = {s.pid for s in d.train if s.pid >= 0}
        if len(ids) < config.batch_p:
            raise ConfigError(f"training domain {name!r} has {len(ids)} identities, fewer than batch_p="
                              f"{config.batch_p} (P x K sampling draws P identities per batch); lower batch_p "
                              "(--set batch_p=...)")


def holds_training_run(folder: Path) -> bool:
    """Whether ``folder`` holds (part of) an ``lreid run`` output: its ``config.json`` or a checkpoint."""
    folder = Path(folder)
    return (folder / "config.json").is_file() or latest_checkpoint(folder / "checkpoints") is not None


def refuse_training_run(folder: Path, option: str) -> None:
    """Stop a command that would write its outputs (``results.json``, ``report.md``, figures) into a training
    run's folder, where they would replace the run's own.

    Raises:
        ConfigError: naming the folder and ``option``.
    """
    if holds_training_run(folder):
        raise ConfigError(f"{folder} holds a training run (config.json / checkpoints); writing there would replace "
                          f"its results: choose another {option}")


def require_writable(folder: Path, option: str) -> None:
    """Create ``folder`` if needed and check that files can be written in it.

    Raises:
        ConfigError: naming the folder, the OS's reason and ``option``.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".lreid-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"{folder}: cannot write there ({e.strerror or e}); choose another {option}") from None


def _resumable_state(previous: Path, config: RunConfig, benchmark) -> dict:
    """The checkpoint to resume, loaded (``weights_only``) and checked against ``config`` and the stream
    before anything is written.

    Raises:
        CheckpointError: unreadable or crafted file, or written under other settings (names the fields).
    """
    state = load_checkpoint(previous)
    diff = config_differences(state.get("config", {}), config)
    if diff or state.get("stream") != benchmark.name:
        raise CheckpointError(f"{previous} was written by a run with other settings "
                              f"({', '.join(diff) or 'stream'} differ); resume with the same options")
    return state


def _run(config, benchmark, pm, output, ckpt_dir, previous, state, progress, echo) -> dict:
    started = time.perf_counter()
    plugins = describe_active(pm)
    if state is None and dist.is_main():
        atomic_write_json(output / "config.json", {**config.to_dict(), "active_plugins": plugins})
    seed_everything(config.seed, 0)  # the initial (randomly initialised) weights depend on the seed only
    model = build_model(config)
    log_path = output / "losses.log" if dist.is_main() else Path(os.devnull)
    if state is not None and "losses_log_bytes" in state and log_path.exists() and dist.is_main():
        with open(log_path, "r+b") as f:  # drop what the interrupted experience wrote
            f.truncate(state["losses_log_bytes"])
    with open(log_path, "a" if state is not None else "w") as loss_log:
        loggers = [TextLogger(loss_log)] if dist.is_main() else []  # Avalanche: loggers on rank 0 only
        strategy = ReIDStrategy(model=model, config=config, pm=pm, loggers=loggers, progress=progress)
        return _train_and_evaluate(config, benchmark, strategy, output, ckpt_dir, previous, state, echo, started,
                                   plugins, loss_log)


def _train_and_evaluate(config, benchmark, strategy, output, ckpt_dir, previous, state, echo, started, plugins,
                        loss_log) -> dict:
    matrix = AccuracyMatrix(benchmark.eval_domains, seen=benchmark.seen_domains, unseen=benchmark.unseen_domains)
    start = 0
    if state is not None:
        start = state["experiences_done"]
        epochs_done = state.get("epochs_done", 0)
        if epochs_done:  # an epoch checkpoint: the experience restarts from the state it started from
            if state.get("start_checkpoint"):
                strategy.load_state_dict(load_checkpoint(ckpt_dir / state["start_checkpoint"])["strategy"])
            strategy.resume_training(state["training"])
        else:
            strategy.load_state_dict(state["strategy"])
            strategy.skipped_steps = state.get("skipped_steps", 0)
        matrix = AccuracyMatrix.from_dict(state["matrix"], benchmark.seen_domains, benchmark.unseen_domains,
                                          state["per_domain"])
        done = f"{start} experience(s)" + (f" and {epochs_done} epoch(s) of the next" if epochs_done else "")
        echo(f"resuming from {previous} ({done} done)")
    if start == 0 and not matrix.rows:
        echo("evaluating the initial model ...")
        matrix.add_row("initial", _evaluate(strategy, benchmark, echo))
    stream = benchmark.train_stream
    for t in range(start, len(stream)):
        domain = benchmark.train_domains[t]
        echo(f"experience {t + 1}/{len(stream)}: training on {domain} "
             f"({len(stream[t].dataset)} images, {config.epochs} epochs)")
        seed_everything(config.seed, t + 1)
        t0 = time.perf_counter()
        started_from = checkpoint_name(t, benchmark.train_domains[t - 1]) if t > 0 else None
        strategy.on_epoch_end = functools.partial(_epoch_checkpoint, config, benchmark, strategy, matrix, ckpt_dir,
                                                  t, domain, loss_log, started_from)
        strategy.train(stream[t])
        strategy.on_epoch_end = None
        log.info("experience %d trained in %.1f s", t + 1, time.perf_counter() - t0)
        matrix.add_row(f"after:{domain}", _evaluate(strategy, benchmark, echo, keep_features=t == len(stream) - 1))
        loss_log.flush()
        if dist.is_main():
            save_checkpoint(ckpt_dir, t + 1, domain, {
                "strategy": strategy.state_dict(), "matrix": matrix.to_dict(), "per_domain": matrix.per_domain,
                "experiences_done": t + 1, "config": config.to_dict(), "stream": benchmark.name,
                "losses_log_bytes": loss_log.tell(), "skipped_steps": strategy.skipped_steps})
            prune_checkpoints(ckpt_dir, config.keep_checkpoints)
            atomic_write_json(output / "results.json", results_dict(config, benchmark, matrix, False, plugins,
                                                                    strategy.skipped_steps))
    results = results_dict(config, benchmark, matrix, True, plugins, strategy.skipped_steps)
    if not strategy.domain_features:  # resumed after the last experience: features for the figures
        strategy.evaluate_domains(benchmark, keep_features=True)
    if not dist.is_main():
        return results
    atomic_write_json(output / "results.json", results)
    visuals = write_visuals(strategy.domain_features, output, metric=config.eval_metric)
    write_report(results, output, visuals, plugin_sections(strategy, output))
    log.info("run finished in %.1f s", time.perf_counter() - started)
    echo(matrix.format("mAP"))
    echo(matrix.format("rank1"))
    fin, labels = results["final"], group_labels(results)
    width = max(len(v) for v in labels.values()) + 1
    for group in ("seen", "unseen"):
        echo(f"final {labels[group] + ':':<{width}} mAP {format_value(fin[group]['mAP']):>6}  "
             f"Rank-1 {format_value(fin[group]['rank1']):>6}")
    echo(f"results: {output / 'results.json'}  (wall time {time.perf_counter() - started:.1f} s)")
    return results
