"""The ``lreid`` command line: ``lreid run EXPERIMENT.py``, ``lreid plugins list``.

User mistakes (:class:`~lifelong_reid.errors.LReIDError`) print one line, ``error: ...``, and exit with
status 2; nothing already written is removed.
"""
from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path

import click

from lifelong_reid.errors import LReIDError


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
@click.option("--block", multiple=True, metavar="PLUGIN", help="Do not load the named plugin. Repeatable.")
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal).")
@_user_errors
def run(experiment, data_root, output, device, seed, epochs, resume, overrides, block, progress):
    """Run an EXPERIMENT file (see examples/)."""
    from lifelong_reid.experiment import load_experiment, resolve_config
    from lifelong_reid.plugin_manager import get_plugin_manager, register
    from lifelong_reid.runner import run_experiment

    module = load_experiment(experiment)
    config = resolve_config(module, overrides=overrides, data_root=data_root, device=device, seed=seed,
                            epochs=epochs, output=output)
    pm = get_plugin_manager(block=block)
    for plugin in getattr(module, "plugins", []):
        register(pm, plugin)
    register(pm, module, name=f"experiment:{Path(experiment).name}")
    out = Path(config.output or f"runs/{config.name}-seed{config.seed}")
    benchmark = module.stream(config)
    run_experiment(config, benchmark, pm, out, resume=resume, progress=progress, echo=click.echo)


@main.group()
def plugins():
    """Inspect plugins."""


@plugins.command("list")
@_user_errors
def plugins_list():
    """Show the registered plugins (built-in and from the lifelong_reid.plugins entry-point group) and the
    hooks each implements."""
    from lifelong_reid.plugin_manager import describe, get_plugin_manager

    for row in describe(get_plugin_manager()):
        click.echo(f"{row['name']}  [{row['source']}]")
        for hook in row["hooks"]:
            click.echo(f"    {hook}")


if __name__ == "__main__":
    main()
