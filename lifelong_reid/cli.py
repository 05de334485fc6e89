"""The ``lreid`` command line: ``lreid run EXPERIMENT.py``, ``lreid eval CHECKPOINT``, ``lreid export CHECKPOINT``, ``lreid index build|add``,
``lreid search CHECKPOINT QUERY_DIR GALLERY_DIR``, ``lreid caption IMAGE_DIR``, ``lreid ground IMAGE_DIR``,
``lreid prune CHECKPOINT``, ``lreid datasets check ROOT``, ``lreid plugins list``.

User mistakes (:class:`~lifelong_reid.errors.LReIDError`) print one line, ``error: ...``, and exit with
status 2; nothing already written is removed.
"""
from __future__ import annotations

import functools
import json
import logging
import sys
from pathlib import Path

import click

from lifelong_reid.errors import LReIDError


#: ``--block NAME`` (repeatable), on every command that loads plugins.
block_option = click.option("--block", multiple=True, metavar="PLUGIN",
                            help="Do not load the named plugin. Repeatable.")


def _user_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LReIDError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
    return wrapper


@click.group()
@click.version_option(package_name="lifelong-reid")
def main():
    """lifelong_reid: ReID with vision-language models under continual learning."""
    logging.getLogger().setLevel(logging.ERROR)  # open_clip warns on the root logger for random init


@main.command()
@click.argument("experiment", type=click.Path(dir_okay=False))
@click.option("--data-root", type=click.Path(file_okay=False), help="Folder holding the datasets.")
@click.option("--output", type=click.Path(file_okay=False), help="Results folder (default runs/NAME-seedS).")
@click.option("--device", help="cpu, cuda, cuda:N or auto (default from the experiment).")
@click.option("--seed", type=int, help="Random seed.")
@click.option("--epochs", type=int, help="Epochs per experience.")
@click.option("--resume", is_flag=True, help="Continue the run in --output after its last checkpoint.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config field, e.g. --set lr=1e-4 --set image_size=[128,64]. Repeatable.")
@click.option("--plugin", "plugin_names", multiple=True, metavar="NAME",
              help="Activate a registered method plugin (see `lreid plugins list`). Repeatable.")
@click.option("-p", "p_options", multiple=True, metavar="NAME|no:NAME",
              help="pytest-style: -p NAME activates a plugin, -p no:NAME blocks one. Repeatable.")
@block_option
@click.option("--synthetic", is_flag=True,
              help="Run the experiment's offline variant (its synthetic_config: synthetic stream, tiny model, CPU).")
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal).")
@click.option("--nproc", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes (GPUs, or CPU processes with gloo): relaunches the command under "
                   "`torchrun --standalone --nproc_per_node N`.")
@_user_errors
def run(experiment, data_root, output, device, seed, epochs, resume, overrides, plugin_names, p_options, block,
        synthetic, progress, nproc):
    """Run an EXPERIMENT file (see examples/). Under torchrun (`torchrun --nproc_per_node N -m lifelong_reid.cli
    run ...`, or --nproc N) the processes train one model together; only rank 0 writes and prints."""
    from lifelong_reid.distributed import init_distributed, is_main, launched_by_torchrun
    from lifelong_reid.experiment import call_stream, load_experiment, resolve_config
    from lifelong_reid.plugin_manager import get_plugin_manager, register
    from lifelong_reid.registry import activate_plugins
    from lifelong_reid.runner import run_experiment

    if nproc > 1 and not launched_by_torchrun():
        sys.exit(_relaunch_under_torchrun(nproc))
    activate, block = _plugin_options(plugin_names, p_options, block)
    module = load_experiment(experiment)
    config = resolve_config(module, overrides=overrides, synthetic=synthetic, plugins=activate, data_root=data_root,
                            device=device, seed=seed, epochs=epochs, output=output)
    if init_distributed(config.device) and not is_main():
        progress = False
    pm = get_plugin_manager(block=block)
    activate_plugins(config, pm, objects=getattr(module, "plugins", []), block=block)
    register(pm, module, name=f"experiment:{Path(experiment).name}")
    out = Path(config.output or f"runs/{config.name}-seed{config.seed}")
    benchmark = call_stream(module, config)
    run_experiment(config, benchmark, pm, out, resume=resume, progress=progress, echo=click.echo)


def _relaunch_under_torchrun(nproc: int) -> int:
    """Run this very command line again under ``torchrun --standalone --nproc_per_node nproc`` (without
    ``--nproc``); returns torchrun's exit status."""
    import subprocess

    args, skip = [], False
    for a in sys.argv[1:]:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            args.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           "-m", "lifelong_reid.cli", *args]
    return subprocess.call(cmd)


def _plugin_options(plugin_names, p_options, block) -> tuple[list, list]:
    """``(plugins to activate, plugins to block)`` from ``--plugin``, ``-p NAME`` / ``-p no:NAME``, ``--block``."""
    activate, blocked = list(plugin_names), list(block)
    for opt in p_options:
        (blocked if opt.startswith("no:") else activate).append(opt.removeprefix("no:"))
    return activate, blocked


def _experiment_plugins(experiment):
    if not experiment:
        return []
    from lifelong_reid.experiment import load_experiment

    module = load_experiment(experiment)
    return [*getattr(module, "plugins", []), module]


@main.command("eval")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--data-root", type=click.Path(file_okay=False), help="Folder holding the datasets.")
@click.option("--domain", "domains", multiple=True, required=True, metavar="PATH",
              help="Dataset to evaluate: a Market-1501-layout folder, a folder with manifest.csv, or a .csv "
                   "manifest, relative to --data-root. Repeatable.")
@click.option("--output", type=click.Path(file_okay=False), help="Report folder (default: eval-<checkpoint name>).")
@click.option("--device", help="cpu, cuda, cuda:N or auto (default: as saved).")
@click.option("--experiment", type=click.Path(dir_okay=False),
              help="The experiment file that trained the checkpoint, only when it registered plugin objects of its "
                   "own (the registry plugins of config.json are rebuilt without it).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override an evaluation setting, e.g. --set rerank=true --set eval_metric=euclidean.")
@block_option
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal).")
@_user_errors
def eval_checkpoint(checkpoint, data_root, domains, output, device, experiment, overrides, block, progress):
    """Evaluate a saved CHECKPOINT on datasets; writes results.json and report.md with figures."""
    from lifelong_reid.data import read_domain
    from lifelong_reid.data.image_check import require_images
    from lifelong_reid.inference import evaluate_checkpoint, load_strategy
    from lifelong_reid.runner import refuse_training_run, require_writable

    out = Path(output or f"eval-{Path(checkpoint).stem}")
    refuse_training_run(out, "--output")
    data = [read_domain(d, data_root) for d in domains]  # read (and check) the data before loading the model
    require_images((p for d in data for s in (*d.query, *d.gallery) for p in s.image_paths()), progress=progress)
    strategy = load_strategy(checkpoint, device=device, plugins=_experiment_plugins(experiment), block=block,
                             progress=progress, overrides=overrides)
    require_writable(out, "--output")
    evaluate_checkpoint(strategy, data, out, checkpoint=str(checkpoint), echo=click.echo)


@main.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.argument("query_dir", type=click.Path(file_okay=False))
@click.argument("gallery_dir", type=click.Path(file_okay=False), required=False)
@click.option("--index", "index_dir", type=click.Path(file_okay=False),
              help="Search a gallery index (lreid index build) instead of embedding GALLERY_DIR.")
@click.option("--top", type=int, default=10, show_default=True, help="Results per query.")
@click.option("--output", type=click.Path(dir_okay=False), help="Write the ranked lists as JSON here.")
@click.option("--device", help="cpu, cuda, cuda:N or auto (default: as saved).")
@click.option("--experiment", type=click.Path(dir_okay=False),
              help="The experiment file that trained the checkpoint, only when it registered plugin objects of its "
                   "own (the registry plugins of config.json are rebuilt without it).")
@block_option
@click.option("--backend", type=click.Choice(["auto", "torch", "faiss"]), default="auto", show_default=True,
              help="Top-k search backend.")
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal).")
@_user_errors
def search(checkpoint, query_dir, gallery_dir, index_dir, top, output, device, experiment, block, backend,
           progress):
    """Rank the images of GALLERY_DIR (or of the gallery index --index) for every image of QUERY_DIR with a saved
    CHECKPOINT."""
    from lifelong_reid.inference import list_images, load_strategy, search_folders
    from lifelong_reid.strategy.checkpoint import atomic_write_json

    if output:
        from lifelong_reid.runner import refuse_training_run, require_writable

        refuse_training_run(Path(output).parent, "--output")
        require_writable(Path(output).parent, "--output")
    from lifelong_reid.errors import ConfigError

    if (gallery_dir is None) == (index_dir is None):
        raise ConfigError("give a GALLERY_DIR to embed, or --index INDEX_DIR (lreid index build), not both")
    list_images(query_dir), list_images(gallery_dir) if gallery_dir else None  # fail on a bad folder first
    strategy = load_strategy(checkpoint, device=device, plugins=_experiment_plugins(experiment), block=block,
                             progress=progress)
    if index_dir:
        from lifelong_reid.index import search_index

        ranked = search_index(strategy, index_dir, query_dir, top=top)
    else:
        ranked = search_folders(strategy, query_dir, gallery_dir, top=top, backend=backend)
    for item in ranked:
        click.echo(item["query"])
        for rank, r in enumerate(item["results"], start=1):
            click.echo(f"  {rank:>3}  {r['distance']:.4g}  {r['path']}")
    if output:
        atomic_write_json(Path(output), ranked)
        click.echo(f"ranked lists: {output}")


@main.command()
@click.argument("image_dir", type=click.Path(file_okay=False))
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="Captions JSON to write.")
@click.option("--model", help="Model name (Hugging Face) or a local folder saved with save_pretrained [default: "
                                "Salesforce/blip-image-captioning-base; Salesforce/blip2-opt-2.7b with --style vladr].")
@click.option("--style", type=click.Choice(["blip", "vladr"]), default="blip", show_default=True,
              help="blip: BLIP continues one prompt per body part; vladr: BLIP-2 answers the VLADR release's 11 "
                   "questions and fills its head / upper / lower / foot templates (per-part captions).")
@click.option("--parts/--no-parts", default=True, show_default=True,
              help="With --style blip: describe head, upper body, lower body and feet, or one caption.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--max-new-tokens", type=int, help="[default: 15 for blip, 8 for vladr, as the release]")
@_user_errors
def caption(image_dir, output, model, style, parts, device, batch_size, max_new_tokens):
    """Caption every image under IMAGE_DIR and write {relative path: caption} as JSON."""
    from lifelong_reid.captioning import write_captions

    table = write_captions(image_dir, output, model=model, device=device, parts=parts, batch_size=batch_size,
                           max_new_tokens=max_new_tokens, style=style)
    click.echo(f"{len(table)} captions written to {output}")


@main.command()
@click.argument("image_dir", type=click.Path(file_okay=False))
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="Part-boxes JSON to write.")
@click.option("--model", default="IDEA-Research/grounding-dino-tiny", show_default=True,
              help="Grounding DINO model name (Hugging Face) or a local folder saved with save_pretrained.")
@click.option("--box-threshold", type=float, default=0.25, show_default=True,
              help="A part whose best score is lower gets no box (MUVA's calibration gives it a stripe).")
@click.option("--device", default="cpu", show_default=True)
@click.option("--batch-size", type=int, default=8, show_default=True)
@_user_errors
def ground(image_dir, output, model, box_threshold, device, batch_size):
    """Find head, upper-body and legs boxes in every image under IMAGE_DIR with an open-vocabulary grounding
    model and write {relative path: {part: [x0, y0, x1, y1]}} as JSON (MUVA's part pseudo-labels)."""
    from lifelong_reid.grounding import write_part_boxes

    table = write_part_boxes(image_dir, output, model=model, device=device, box_threshold=box_threshold,
                             batch_size=batch_size)
    click.echo(f"part boxes for {len(table)} images written to {output}")


@main.command("prune")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--amount", type=float, required=True, help="Share of the encoder's weights to zero, e.g. 0.5.")
@click.option("--output", type=click.Path(dir_okay=False), help="Default: CHECKPOINT_prunedNN.pt beside it.")
@click.option("--rounds", type=int, default=1, show_default=True,
              help="Prune in this many rounds, each the same share of what remains.")
@click.option("--finetune-epochs", type=int, default=0, show_default=True,
              help="Fine-tune this many epochs after each round on the last training experience of --experiment.")
@click.option("--experiment", type=click.Path(dir_okay=False),
              help="The experiment file that trained the checkpoint (its stream, for fine-tuning).")
@click.option("--data-root", type=click.Path(file_okay=False), help="Folder holding the datasets (default: as saved).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="A setting for the fine-tuning, e.g. --set graft.frozen_epochs=0 --set lr=1e-5.")
@block_option
@_user_errors
def prune_command(checkpoint, amount, output, rounds, finetune_epochs, experiment, data_root, overrides, block):
    """Prune the encoder of a run checkpoint by weight magnitude (global L1, attention and MLP weights), in one
    or more rounds with optional fine-tuning between them, make the masks permanent, and save a checkpoint that
    lreid eval / lreid search read like the original."""
    from lifelong_reid.pruning import prune_checkpoint

    r = prune_checkpoint(checkpoint, amount, output, rounds=rounds, finetune_epochs=finetune_epochs,
                         experiment=experiment, data_root=data_root, overrides=overrides, block=block,
                         echo=click.echo)
    click.echo(f"pruned {r['zeros']:,} of {r['total']:,} encoder weights ({100 * r['zeros'] / max(r['total'], 1):.1f}%); "
               f"non-zero parameters {r['nonzero_params']:,} of {r['params']:,}")
    click.echo(f"file {r['bytes'] / 1e6:.2f} MB (zlib {r['compressed_bytes'] / 1e6:.2f} MB); source "
               f"{r['source_bytes'] / 1e6:.2f} MB (zlib {r['source_compressed_bytes'] / 1e6:.2f} MB): {r['output']}")


@main.command("export")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["onnx", "torchscript", "torch-export"]), default="onnx",
              show_default=True, help="ONNX (onnxruntime), TorchScript (torch.jit), or a torch.export program.")
@click.option("--output", type=click.Path(dir_okay=False),
              help="Default: CHECKPOINT with .onnx / .torchscript.pt / .pt2 beside it.")
@click.option("--opset", type=int, help="ONNX opset (default: the exporter's).")
@click.option("--dynamic-batch/--static-batch", default=True, show_default=True,
              help="Keep the batch dimension free (otherwise fixed to the example batch).")
@click.option("--images", "image_dir", type=click.Path(file_okay=False),
              help="Folder of real images for the parity check (default: synthetic people).")
@click.option("--parity-images", type=int, default=16, show_default=True)
@click.option("--modality", default="rgb", show_default=True, help="Modality of the exported inputs (rgb, ir, ...).")
@click.option("--experiment", type=click.Path(dir_okay=False),
              help="The experiment file that trained the checkpoint, only when it registered plugin objects of its "
                   "own.")
@block_option
@_user_errors
def export_command(checkpoint, fmt, output, opset, dynamic_batch, image_dir, parity_images, modality, experiment,
                   block):
    """Export a checkpoint's retrieval model (images -> features, plugins included) and check it against
    PyTorch: max difference of the L2-normalised features, identical top-10 lists, images/s of both."""
    from lifelong_reid.export import check_parity, example_images, export_model, folder_images
    from lifelong_reid.inference import load_strategy

    suffix = {"onnx": ".onnx", "torchscript": ".torchscript.pt", "torch-export": ".pt2"}[fmt]
    out = Path(output or Path(checkpoint).with_suffix(suffix))
    strategy = load_strategy(checkpoint, device="cpu", plugins=_experiment_plugins(experiment), block=block,
                             progress=False)
    images = folder_images(strategy, image_dir, parity_images) if image_dir else example_images(strategy,
                                                                                               parity_images)
    example = images if fmt == "torch-export" or not dynamic_batch else images[:2]  # parity runs on all of them
    export_model(strategy, out, fmt, example=example, opset=opset, dynamic_batch=dynamic_batch, modality=modality)
    r = check_parity(strategy, out, fmt, images, modality=modality)
    click.echo(f"exported {out} ({r['size_mb']:.2f} MB, {fmt})")
    click.echo(f"parity on {r['images']} {'real' if image_dir else 'synthetic'} images: max |diff| of normalised "
               f"features {r['max_abs_diff']:.2e}; top-{r['top_k']} lists {'identical' if r['top_k_equal'] else 'DIFFER'}")
    click.echo(f"CPU throughput: {fmt} {r['exported_images_per_s']:.1f} images/s, PyTorch "
               f"{r['torch_images_per_s']:.1f} images/s (batch {r['images']})")
    if not r["top_k_equal"] or r["max_abs_diff"] > 1e-3:
        click.echo("error: the exported model does not match PyTorch (see above)", err=True)
        sys.exit(1)


@main.group()
def index():
    """Persistent gallery indexes: embed a gallery once, search it with lreid search --index."""


@index.command("build")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.argument("gallery_dir", type=click.Path(file_okay=False))
@click.option("--output", required=True, type=click.Path(file_okay=False), help="Index folder to write.")
@click.option("--factory", help="faiss index_factory string (default: Flat; IVF beyond 200,000 images).")
@click.option("--chunk", type=click.IntRange(min=1), default=4096, show_default=True,
              help="Images embedded (and saved) per step; an interrupted build resumes at its last chunk.")
@click.option("--device", help="cpu, cuda, cuda:N or auto (default: as saved).")
@block_option
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal).")
@_user_errors
def index_build(checkpoint, gallery_dir, output, factory, chunk, device, block, progress):
    """Embed every image under GALLERY_DIR with CHECKPOINT and write a faiss index and its metadata."""
    import time

    from lifelong_reid.index import build_index
    from lifelong_reid.inference import load_strategy

    strategy = load_strategy(checkpoint, device=device, block=block, progress=progress)
    t0 = time.perf_counter()
    meta = build_index(strategy, gallery_dir, output, chunk=chunk, factory=factory, checkpoint=checkpoint,
                       echo=click.echo)
    click.echo(f"index of {meta['count']} images ({meta['factory']}, {meta['dim']}-d, {meta['metric']}) in "
               f"{time.perf_counter() - t0:.1f} s: {output}")


@index.command("add")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.argument("index_dir", type=click.Path(file_okay=False))
@click.argument("image_dir", type=click.Path(file_okay=False))
@click.option("--device", help="cpu, cuda, cuda:N or auto (default: as saved).")
@block_option
@_user_errors
def index_add(checkpoint, index_dir, image_dir, device, block):
    """Append the images under IMAGE_DIR that INDEX_DIR does not hold yet."""
    from lifelong_reid.index import add_to_index
    from lifelong_reid.inference import load_strategy

    strategy = load_strategy(checkpoint, device=device, block=block)
    meta = add_to_index(strategy, index_dir, image_dir)
    click.echo(f"added {meta['added']} images; the index holds {meta['count']}")


@main.command("synthetic-clip")
@click.option("--model", default="lreid-tiny-vit", show_default=True, help="Model to pretrain (random init).")
@click.option("--steps", type=int, default=800, show_default=True)
@click.option("--image-size", type=int, nargs=2, default=(128, 64), show_default=True, help="H W")
@click.option("--device", default="cpu", show_default=True)
@_user_errors
def synthetic_clip(model, steps, image_size, device):
    """Pretrain a tiny CLIP on captioned synthetic people (cached) and print its path, for --set weights=PATH."""
    import json
    import logging

    from lifelong_reid.synthetic.pretrain import synthetic_clip_weights

    logging.getLogger("lifelong_reid.synthetic").setLevel(logging.INFO)
    path = synthetic_clip_weights(model, steps=steps, image_size=list(image_size), device=device)
    report = json.loads(path.with_suffix(".json").read_text())
    click.echo(f"held-out image->caption top-1: {report['retrieval_top1_random']:.1f}% (random) -> "
               f"{report['retrieval_top1']:.1f}% (pretrained)", err=True)
    click.echo(str(path))


@main.group()
def datasets():
    """Inspect datasets under a data root."""


@datasets.command("check")
@click.argument("root", type=click.Path())
@click.option("--stream", help="A stream name (lreid-setting1, lifelong:A,B+U, dg:A->B, supervised:NAME, ...): report "
                               "whether each of its datasets is ready.")
@click.option("--decode/--no-decode", default=True, show_default=True,
              help="Decode every image in full (cached by size and mtime), so truncated or empty files are found.")
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal).")
@_user_errors
def datasets_check(root, stream, decode, progress):
    """Report every dataset folder under ROOT as found (with counts against the published statistics),
    readable (unregistered), malformed (which file, why), missing or skipped (no dataset layout); exit 1 when
    something is malformed. With --stream, whether that stream can run (exit 1 if not)."""
    from lifelong_reid.data.check import check_root, check_stream, format_status

    if stream:
        ready, lines = check_stream(stream, root, decode=decode, progress=progress)
        for line in lines:
            click.echo(line)
        sys.exit(0 if ready else 1)
    statuses = check_root(root, decode=decode, progress=progress)
    for status in statuses:
        for line in format_status(status):
            click.echo(line)
    malformed = [s.name for s in statuses if s.status == "malformed"]
    if malformed:
        click.echo(f"{len(malformed)} malformed: {', '.join(malformed)}", err=True)
        sys.exit(1)


@main.group()
def plugins():
    """Inspect plugins."""


@plugins.command("list")
@click.option("--experiment", type=click.Path(dir_okay=False),
              help="Also list the plugins an experiment file registers itself (its plugin objects and hooks).")
@_user_errors
def plugins_list(experiment):
    """Show every registered plugin (built-in and third-party, from the lifelong_reid.plugins entry-point
    group): version, source, kind, the hooks it implements and its settings with their defaults."""
    from lifelong_reid.registry import describe_plugins, object_settings, plugin_hooks

    rows = describe_plugins()
    if experiment:
        from lifelong_reid.experiment import load_experiment

        module = load_experiment(experiment)
        for obj in [*getattr(module, "plugins", []), module]:
            is_module = obj is module
            name = f"experiment:{Path(experiment).name}" if is_module else getattr(obj, "name", type(obj).__name__)
            rows.append({"name": name, "version": str(getattr(obj, "version", "")), "source": "experiment file",
                         "kind": "method", "always_on": False, "description": "", "error": "",
                         "hooks": plugin_hooks(obj), "loss_names": list(getattr(obj, "loss_names", ()) or ()),
                         "settings": {} if is_module else (object_settings(obj) or {})})
    for row in rows:
        state = "always on" if row["always_on"] else "opt-in"
        click.echo(f"{row['name']} {row['version']}".rstrip() + f"  [{row['source']}; {row['kind']}, {state}]"
                   + (f"  {row['description']}" if row["description"] else ""))
        if row["error"]:
            click.echo(f"    BROKEN: {row['error']}")
            continue
        click.echo(f"    hooks: {', '.join(row['hooks']) or 'none'}")
        if row["loss_names"]:
            click.echo(f"    losses: {', '.join(row['loss_names'])}")
        for key, value in row["settings"].items():
            click.echo(f"    {row['name']}.{key} = {json.dumps(value)}")


if __name__ == "__main__":
    main()
