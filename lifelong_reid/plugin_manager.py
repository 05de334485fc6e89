"""The plugin manager: hookspecs + built-in and third-party plugins from the entry-point group.

Built-in plugins (``lifelong_reid.plugins.*``) are registered through the same ``lifelong_reid.plugins``
entry-point group as third-party ones, so a third-party package only declares, in its own packaging::

    [options.entry_points]
    lifelong_reid.plugins =
        myplugin = mypackage.myplugin

Environment: ``LREID_TRACE_HOOKS=1`` logs every hook call (and its result) to stderr.
"""
from __future__ import annotations

import inspect
import logging
import os
import sys
from typing import Iterable

import pluggy

from lifelong_reid import hookspecs
from lifelong_reid.errors import ConfigError
from lifelong_reid.hooks import PROJECT

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "lifelong_reid.plugins"


def get_plugin_manager(block: Iterable[str] = (), load_entrypoints: bool = True) -> pluggy.PluginManager:
    """A plugin manager with the hookspecs and the plugins of the entry-point group.

    Args:
        block: plugin names (entry-point names, e.g. ``"core"``) that must not be registered.
        load_entrypoints: load the ``lifelong_reid.plugins`` entry-point group.

    Raises:
        ConfigError: a registered plugin implements a hook that no spec defines (a misspelt name).
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in block:
        pm.set_blocked(name)
    if load_entrypoints:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    check(pm)
    if os.environ.get("LREID_TRACE_HOOKS"):
        pm.trace.root.setwriter(lambda msg: sys.stderr.write(msg))
        pm.enable_tracing()
    return pm


def register(pm: pluggy.PluginManager, plugin, name: str | None = None) -> str:
    """Register ``plugin`` (module or object) and validate its hook names; returns its name.

    Raises:
        ConfigError: a hook implementation matches no spec.
    """
    name = pm.register(plugin, name=name)
    check(pm)
    return name


def check(pm: pluggy.PluginManager) -> None:
    """``pm.check_pending()`` with a one-line error naming the plugin and the unknown hook."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        raise ConfigError(f"plugin {pm.get_name(e.plugin)}: {e}; hook names must match a spec in "
                          "lifelong_reid/hookspecs.py (run `lreid plugins list`)") from None


def describe(pm: pluggy.PluginManager) -> list[dict]:
    """One dict per registered plugin: ``name``, ``source`` (module or distribution), ``hooks``."""
    dists = {id(p): d for p, d in pm.list_plugin_distinfo()}
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        hooks = sorted(h.name for h in (pm.get_hookcallers(plugin) or []))
        dist = dists.get(id(plugin))
        module = plugin.__name__ if inspect.ismodule(plugin) else type(plugin).__module__
        source = f"{module} ({dist.project_name} {dist.version})" if dist else module
        rows.append({"name": name, "source": source, "hooks": hooks})
    return rows
