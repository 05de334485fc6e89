"""The plugin manager: the hookspecs, the always-on plugins, hook-call tracing and helpers.

Which plugins a run activates is decided by :mod:`lifelong_reid.registry` (methods are opt-in); this module
builds the pluggy manager they are registered on.

Environment: ``LREID_TRACE_HOOKS=1`` prints one line per call of an implemented hook to stderr (hook, the
plugins that implement it, argument shapes, what it returned, time); ``LREID_TRACE_HOOKS=lreid_extra_losses,vladr``
keeps only the calls of those hooks (with or without the ``lreid_`` prefix) or of hooks those plugins
implement.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Iterable, Optional

import pluggy
import torch

from lifelong_reid import hookspecs
from lifelong_reid.errors import ConfigError
from lifelong_reid.hooks import PROJECT

ENTRY_POINT_GROUP = "lifelong_reid.plugins"
TRACE_ENV = "LREID_TRACE_HOOKS"


def get_plugin_manager(block: Iterable[str] = (), load_entrypoints: bool = True) -> pluggy.PluginManager:
    """A plugin manager with the hookspecs and, with ``load_entrypoints``, the always-on plugins of the
    registry (``core``). Method plugins are added by :func:`lifelong_reid.registry.activate_plugins`.

    Args:
        block: plugin names that must not be registered.
        load_entrypoints: register the always-on plugins of the ``lifelong_reid.plugins`` entry-point group.

    Raises:
        ConfigError: a blocked name that no plugin has (the message lists the known ones).
    """
    from lifelong_reid.registry import always_on_plugins

    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in block:
        pm.set_blocked(name)
    if load_entrypoints:
        for info in always_on_plugins():
            if not pm.is_blocked(info.name):
                register(pm, info.create(), name=info.name)
    install_tracing(pm)
    return pm


def register(pm: pluggy.PluginManager, plugin, name: Optional[str] = None) -> Optional[str]:
    """Register ``plugin`` (module or object) and validate its hook names; returns its name (``None`` when
    the name is blocked).

    Raises:
        ConfigError: a hook implementation matches no spec, or the name is taken.
    """
    if name is not None and pm.is_blocked(name):
        return None
    try:
        name = pm.register(plugin, name=name)
    except ValueError as e:
        raise ConfigError(f"plugin {name or plugin!r} cannot be registered: {e}") from None
    check(pm)
    return name


def check(pm: pluggy.PluginManager) -> None:
    """``pm.check_pending()`` with a one-line error naming the plugin and the unknown hook."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        raise ConfigError(f"plugin {pm.get_name(e.plugin)}: {e}; hook names must match a spec in "
                          "lifelong_reid/hookspecs.py (docs/hooks.md)") from None


def implementers(pm: pluggy.PluginManager, hook: str) -> list[str]:
    """Names of the registered plugins that implement ``hook``, in call order."""
    return [impl.plugin_name for impl in reversed(getattr(pm.hook, hook).get_hookimpls())]


def call_each(pm: pluggy.PluginManager, hook: str, **kwargs) -> list[tuple[str, object]]:
    """Call every implementation of ``hook`` in pluggy's order and return ``[(plugin name, result), ...]``
    (``None`` results included), so a caller can say which plugin returned what. Traced like any hook call."""
    caller = getattr(pm.hook, hook)
    impls = list(reversed(caller.get_hookimpls()))
    tracer = getattr(pm, "_lreid_tracer", None)
    out = []
    for impl in impls:
        if impl.hookwrapper or impl.wrapper:
            raise ConfigError(f"plugin {impl.plugin_name!r}: {hook} does not support hook wrappers")
        started = time.perf_counter()
        result = impl.function(*[kwargs[a] for a in impl.argnames])
        if tracer is not None:
            tracer.line(hook, [impl.plugin_name], kwargs, result, time.perf_counter() - started)
        out.append((impl.plugin_name, result))
    return out


# --------------------------------------------------------------------------- tracing


def summarize(value, depth: int = 0) -> str:
    """A short description of a hook argument or result: shapes, not tensors."""
    if torch.is_tensor(value):
        return f"tensor{tuple(value.shape)}" if value.dim() else f"tensor({float(value.detach()):.4g})"
    if hasattr(value, "describe") and callable(value.describe):
        return value.describe()
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, dict):
        if depth > 0:
            return f"dict({len(value)})"
        items = [f"{k}: {summarize(v, depth + 1)}" for k, v in list(value.items())[:8]]
        more = f", +{len(value) - 8}" if len(value) > 8 else ""
        return "{" + ", ".join(items) + more + "}"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__}[{len(value)}]"
    return type(value).__name__


class HookTracer:
    """Prints one line per hook call: ``lreid-trace HOOK [plugins] args -> result (ms)``.

    Args:
        selection: hook names (with or without ``lreid_``) or plugin names to keep; empty keeps all.
        stream: where lines go (stderr).
    """

    def __init__(self, selection: Iterable[str] = (), stream=None):
        self.selection = {s.strip() for s in selection if s.strip()}
        self.stream = stream or sys.stderr
        self._starts: list[float] = []

    def wanted(self, hook: str, plugins: list[str]) -> bool:
        if not plugins:
            return False  # a hook no plugin implements did nothing
        if not self.selection:
            return True
        return (hook in self.selection or hook.removeprefix("lreid_") in self.selection
                or any(p in self.selection for p in plugins))

    def line(self, hook: str, plugins: list[str], kwargs: dict, result, seconds: float) -> None:
        if not self.wanted(hook, plugins):
            return
        args = " ".join(f"{k}={summarize(v)}" for k, v in kwargs.items())
        self.stream.write(f"lreid-trace {hook} [{','.join(plugins)}] {args} -> {summarize(result)} "
                          f"({1000 * seconds:.3f} ms)\n")

    def before(self, hook_name, hook_impls, kwargs) -> None:
        self._starts.append(time.perf_counter())

    def after(self, outcome, hook_name, hook_impls, kwargs) -> None:
        seconds = time.perf_counter() - self._starts.pop()
        try:
            result = outcome.get_result()
        except BaseException as e:  # the exception propagates anyway
            result = f"raised {type(e).__name__}"
        self.line(hook_name, [i.plugin_name for i in reversed(hook_impls)], kwargs, result, seconds)


def install_tracing(pm: pluggy.PluginManager, value: Optional[str] = None, stream=None) -> Optional[HookTracer]:
    """Trace ``pm``'s hook calls when ``value`` (default: ``$LREID_TRACE_HOOKS``) is set: ``1`` / ``all``
    for every call, else a comma-separated selection of hook or plugin names."""
    value = os.environ.get(TRACE_ENV, "") if value is None else value
    if not value or value == "0":
        return None
    tracer = HookTracer(() if value in ("1", "all") else value.split(","), stream)
    pm.add_hookcall_monitoring(tracer.before, tracer.after)
    pm._lreid_tracer = tracer
    return tracer
