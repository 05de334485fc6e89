"""The registry of plugins: name -> :class:`PluginInfo` (factory, settings dataclass, version), found through
the ``lifelong_reid.plugins`` entry-point group for built-in and third-party plugins alike.

A package makes a plugin available by declaring, in its packaging::

    [project.entry-points."lifelong_reid.plugins"]
    ema = lreid_ema:PLUGIN          # a PluginInfo

Installed is not active: a *method* plugin runs only when a run names it (``RunConfig.plugins``, an
experiment file, ``--plugin NAME`` / ``-p NAME``); plugins marked ``always_on`` (the built-in ``core``,
loggers that only observe) run unless blocked (``--block NAME`` / ``-p no:NAME``). An entry point that
points at a plain module of ``@hookimpl`` functions is registered as a method plugin without settings.

Settings: each plugin's dataclass validates ``RunConfig.plugins[name]`` (``--set name.key=value``) with a
one-line error naming the setting; the run's ``config.json`` keeps every setting (defaults filled in), so
``lreid eval``, ``lreid search`` and ``--resume`` rebuild the same plugins.
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import inspect
import logging
import typing
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Optional

from lifelong_reid.config import coerce
from lifelong_reid.errors import ConfigError
from lifelong_reid.hookspecs import API_VERSION

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "lifelong_reid.plugins"
KINDS = ("method", "observer", "core")


@dataclass
class PluginInfo:
    """What the registry knows of a plugin.

    Attributes:
        name: registry name (``--plugin NAME``, ``--set NAME.key=value``, checkpoint state key).
        factory: ``settings -> plugin object`` (a module, or an object with ``@hookimpl`` methods); called
            with an instance of ``settings`` (or ``None`` when the plugin has no settings).
        settings: the settings dataclass (each field documented under ``Attributes:`` in its docstring), or
            ``None``.
        version: the plugin's version (default: its distribution's).
        description: one line for ``lreid plugins list``.
        kind: ``"method"`` (opt-in), ``"observer"`` (loggers, metrics: changes nothing it observes) or
            ``"core"`` (the library's own defaults).
        always_on: registered in every run unless blocked (``core``; observers may be).
        api_version: the Plugin API ``(major, minor)`` it was written against; a different major version is
            refused.
        loss_names: the loss terms it returns (clashes are refused when plugins are registered).
        side_info: the side information it reads from training batches (keys of
            :data:`~lifelong_reid.data.SIDE_KEYS`); the geometric kind (``part_boxes``, ``part_masks``) reaches
            the batch only when a plugin declares it.
        contract: what the contract test needs: ``{"stream": "lifelong"|"multimodal"|"vi-unsupervised",
            "settings": {small settings for a seconds-long test}}``.
        source: filled by discovery: ``built-in``, ``entry point (DIST VERSION)`` or ``experiment file``.
        error: filled when the entry point failed to load (the plugin is listed, and refused if requested).
    """

    name: str
    factory: Callable[[Any], Any]
    settings: Optional[type] = None
    version: str = ""
    description: str = ""
    kind: str = "method"
    always_on: bool = False
    api_version: tuple = API_VERSION
    loss_names: tuple = ()
    side_info: tuple = ()
    contract: dict = field(default_factory=dict)
    source: str = ""
    error: str = ""

    def defaults(self) -> dict:
        """Every setting with its default value."""
        return settings_dict(self.settings()) if self.settings else {}

    def validate(self, values: Optional[dict] = None):
        """The settings instance for ``values`` (missing ones take their defaults; ``None`` without a
        settings dataclass). A settings dataclass may define presets, ``PRESETS = {name: {setting: value}}``
        (a ``ClassVar``) selected by its ``preset`` setting: the preset's values are taken first and the
        settings given with it override them.

        Raises:
            ConfigError: an unknown setting, a value of the wrong type, or a value the dataclass refuses; the
                message names the plugin and the setting.
        """
        values = dict(values or {})
        if self.settings is None:
            if values:
                raise ConfigError(f"plugin {self.name!r} has no settings, got {', '.join(values)}")
            return None
        presets = getattr(self.settings, "PRESETS", None)
        if presets and "preset" in values:  # the preset's settings, then those given with it
            if values["preset"] not in presets:
                raise ConfigError(f"unknown preset {values['preset']!r} of plugin {self.name!r}; presets: "
                                  f"{', '.join(presets)}")
            values = {**presets[values["preset"]], **values}
        fields = {f.name: f for f in dataclasses.fields(self.settings)}
        hints = typing.get_type_hints(self.settings)
        for key, value in list(values.items()):
            if key not in fields:
                raise ConfigError(f"unknown setting {key!r} of plugin {self.name!r}; settings: {', '.join(fields)}")
            values[key] = coerce(f"{self.name}.{key}", value, hints[key])
        try:
            return self.settings(**values)
        except ConfigError as e:
            raise ConfigError(f"plugin {self.name!r}: {e}") from None
        except (TypeError, ValueError) as e:
            raise ConfigError(f"plugin {self.name!r}: invalid settings ({e})") from None

    def create(self, settings=None):
        """A plugin object from validated ``settings`` (the factory's result)."""
        if self.error:
            raise ConfigError(f"plugin {self.name!r} cannot be used: {self.error}")
        plugin = self.factory(settings)
        for attr, value in (("name", self.name), ("loss_names", self.loss_names), ("side_info", self.side_info)):
            if not inspect.ismodule(plugin) and not hasattr(plugin, attr):
                try:
                    setattr(plugin, attr, value)
                except AttributeError:
                    pass
        return plugin

    def settings_doc(self) -> dict[str, str]:
        """``{setting: its line in the dataclass docstring's Attributes section}`` (empty if undocumented)."""
        return settings_docs(self.settings) if self.settings else {}


def settings_dict(settings) -> dict:
    """A dataclass instance as a JSON-ready dict (tuples as lists)."""
    import json

    return json.loads(json.dumps(dataclasses.asdict(settings), default=str))


def settings_docs(cls: type) -> dict[str, str]:
    """Parse a dataclass docstring's ``Attributes:`` section into ``{name: text}``; a line may document
    several names (``a, b: text``) or several entries (``a: text. b: text``)."""
    doc = inspect.getdoc(cls) or ""
    if "Attributes:" not in doc:
        return {}
    lines = [line for line in doc.split("Attributes:", 1)[1].splitlines() if line.strip()]
    if not lines:
        return {}
    indent = len(lines[0]) - len(lines[0].lstrip())
    names = {f.name for f in dataclasses.fields(cls)}
    out: dict[str, str] = {}
    last: list[str] = []
    for line in lines:
        if len(line) - len(line.lstrip()) < indent:
            break  # the next section
        for clause in line.strip().split(". "):
            head, sep, text = clause.partition(":")
            keys = [k.strip() for k in head.split(",")]
            if sep and keys and all(k in names for k in keys):
                for k in keys:
                    out[k] = text.strip()
                last = keys
            elif last:
                for k in last:
                    out[k] = (out[k] + " " + clause).strip()
    return out


# --------------------------------------------------------------------------- discovery

_cache: Optional[dict[str, PluginInfo]] = None


def _from_entry_point(ep) -> PluginInfo:
    dist = getattr(ep, "dist", None)
    dist_name = getattr(dist, "name", None) or (dist.metadata["Name"] if dist is not None else "")
    builtin = ep.value.startswith("lifelong_reid.plugins")
    source = "built-in" if builtin else f"entry point ({dist_name} {dist.version if dist else ''})".strip()
    try:
        obj = ep.load()
    except Exception as e:  # a broken third-party package must not break every command
        return PluginInfo(name=ep.name, factory=lambda s: None, source=source,
                          error=f"its entry point {ep.value} failed to import ({type(e).__name__}: {e})")
    if isinstance(obj, ModuleType) and isinstance(getattr(obj, "PLUGIN", None), PluginInfo):
        obj = obj.PLUGIN
    if isinstance(obj, PluginInfo):
        info = dataclasses.replace(obj, source=source)
        if info.name != ep.name:
            info.error = f"entry point {ep.name!r} holds PluginInfo(name={obj.name!r}); the names must agree"
    else:  # a plain module or object of hookimpls
        info = PluginInfo(name=ep.name, factory=lambda s, o=obj: o, source=source,
                          description=(inspect.getdoc(obj) or "").split("\n")[0])
    if not info.version:
        info.version = dist.version if dist is not None else ""
    if info.api_version[0] != API_VERSION[0]:
        info.error = (f"written for Plugin API {info.api_version[0]}.x, this is {API_VERSION[0]}."
                      f"{API_VERSION[1]}")
    return info


def discover(refresh: bool = False) -> dict[str, PluginInfo]:
    """Every plugin of the ``lifelong_reid.plugins`` entry-point group, by name (cached; ``refresh`` reads
    the installed distributions again)."""
    global _cache
    if _cache is None or refresh:
        found: dict[str, PluginInfo] = {}
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in found:  # the same distribution seen twice (editable + site)
                continue
            found[ep.name] = _from_entry_point(ep)
        _cache = found
    return _cache


def get_plugin_info(name: str) -> PluginInfo:
    """The registry entry ``name``.

    Raises:
        ConfigError: unknown name (the message lists the known ones).
    """
    known = discover()
    if name not in known:
        raise ConfigError(f"unknown plugin {name!r}; known plugins: {', '.join(known) or 'none'} "
                          "(`lreid plugins list`)")
    return known[name]


def always_on_plugins() -> list[PluginInfo]:
    """The registry entries registered in every run (unless blocked)."""
    return [info for info in discover().values() if info.always_on and not info.error]


# --------------------------------------------------------------------------- a run's plugins


def object_settings(plugin) -> Optional[dict]:
    """The settings of a plugin object (its ``settings`` or ``cfg`` dataclass), if it exposes them."""
    for attr in ("settings", "cfg"):
        value = getattr(plugin, attr, None)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return settings_dict(value)
    return None


def check_names(names, *, what: str, extra: tuple = ()) -> None:
    """Refuse names that are neither registered nor in ``extra``.

    Raises:
        ConfigError: ``unknown plugin 'x' in --block; known plugins: ...``.
    """
    known = discover()
    for name in names:
        if name not in known and name not in extra:
            listing = ", ".join([*known, *extra]) or "none"
            raise ConfigError(f"unknown plugin {name!r} in {what}; known plugins: {listing}")


def activate_plugins(config, pm, *, objects=(), block=()) -> None:
    """Register the plugins of a run on ``pm`` and fill ``config.plugins`` with their full settings.

    The run's methods are ``config.plugins`` (``{name: {setting: value}}``) plus plugin ``objects`` built by
    an experiment file; an object whose ``name`` is a registry name and which exposes its settings dataclass
    (``settings`` or ``cfg``) is recorded in ``config.plugins`` too, so the saved config rebuilds it. Blocked
    names are skipped (and dropped from ``config.plugins``). Always-on plugins were registered by
    :func:`~lifelong_reid.plugin_manager.get_plugin_manager`. What a run records of them:
    :func:`describe_active`.

    Raises:
        ConfigError: an unknown plugin name or setting, a plugin that failed to load, or two plugins that
            declare the same loss name.
    """
    from lifelong_reid.plugin_manager import register
    from lifelong_reid.strategy.reid_strategy import check_loss_names

    known = discover()
    object_names = tuple(getattr(o, "name", None) for o in objects if getattr(o, "name", None))
    check_names(block, what="--block", extra=object_names)
    check_names(config.plugins, what="the run's plugins (RunConfig.plugins / --plugin / --set NAME.key)",
                extra=object_names)
    resolved: dict[str, dict] = {}
    for obj in objects:
        name = getattr(obj, "name", None) or type(obj).__name__.lower()
        if pm.is_blocked(name) or name in block:
            continue
        register(pm, obj, name=name)
        info = known.get(name)
        if info is not None and info.settings is not None:
            resolved[name] = object_settings(obj) or {}
    for name, values in config.plugins.items():
        if name in resolved or name in block or pm.is_blocked(name):
            continue
        info = known[name]
        settings = info.validate(values)
        register(pm, info.create(settings), name=name)
        resolved[name] = settings_dict(settings) if settings is not None else {}
    config.plugins = resolved
    check_loss_names(pm)


def describe_active(pm) -> list[dict]:
    """What ``config.json`` (``active_plugins``) and ``results.json`` (``plugins``) record of each plugin
    registered on ``pm``: ``name``, ``version``, ``source`` (``built-in``, ``entry point (...)``,
    ``experiment file`` or ``object (module)``), ``settings``, ``kind``."""
    known = discover()
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        info = known.get(name)
        if name.startswith("experiment:"):
            source = "experiment file"
        elif info is not None:
            source = info.source
        else:
            source = f"object ({type(plugin).__module__})"
        rows.append({"name": name, "version": str(info.version if info else getattr(plugin, "version", "")),
                     "source": source, "settings": object_settings(plugin) or {},
                     "kind": info.kind if info else "method"})
    return rows


def plugin_hooks(plugin) -> list[str]:
    """The hook names a plugin object or module implements (sorted)."""
    import pluggy

    from lifelong_reid import hookspecs
    from lifelong_reid.hooks import PROJECT

    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin, name="probe")
    return sorted(h.name for h in pm.get_hookcallers(plugin) or [])


def describe_plugins() -> list[dict]:
    """One row per registered plugin for ``lreid plugins list``: ``name``, ``version``, ``source``, ``kind``,
    ``always_on``, ``description``, ``hooks``, ``loss_names``, ``settings`` (defaults), ``error``."""
    rows = []
    for info in discover().values():
        row = {"name": info.name, "version": info.version, "source": info.source, "kind": info.kind,
               "always_on": info.always_on, "description": info.description, "hooks": [],
               "loss_names": list(info.loss_names), "settings": {}, "error": info.error}
        if not info.error:
            try:
                row["settings"] = info.defaults()
                plugin = info.create(info.validate({}))
                row["hooks"] = plugin_hooks(plugin)
                row["loss_names"] = list(getattr(plugin, "loss_names", ()) or info.loss_names)
            except Exception as e:  # listed, not fatal: the list must show every plugin
                row["error"] = f"cannot be built with its default settings ({type(e).__name__}: {e})"
        rows.append(row)
    return rows
