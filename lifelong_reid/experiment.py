"""Experiment files: plain Python that defines a run.

An experiment file (see ``examples/``) defines:

- ``config``: a :class:`~lifelong_reid.RunConfig`;
- ``stream(config)``: returns the :class:`~lifelong_reid.streams.ReIDBenchmark` to run;
- its method plugins in ``config.plugins`` (``{"vladr": {"stage1_epochs": 120}}``), found in the registry
  (``lreid plugins list``);
- optionally ``plugins``: a list of plugin objects to register as they are (their settings are recorded
  when they expose them; ``lreid eval`` then needs ``--experiment`` to rebuild them);
- optionally its own ``@hookimpl`` functions: the file itself is registered as a plugin, as pytest
  registers a ``conftest.py``.
"""
from __future__ import annotations

import contextlib
import copy
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType

from lifelong_reid.config import RunConfig
from lifelong_reid.errors import ConfigError, LReIDError

#: Set to ``1`` to let an exception raised by an experiment file propagate with its traceback instead of the
#: one-line error.
DEBUG_ENV = "LREID_DEBUG"


def _raised_in(path: Path, e: BaseException) -> str:
    """``FILE:LINE`` of the deepest frame of ``e``'s traceback inside ``path`` (else the deepest frame)."""
    frames = traceback.extract_tb(e.__traceback__)
    inside = [f for f in frames if Path(f.filename).resolve() == path.resolve()]
    f = (inside or frames or [None])[-1]
    return f"{f.filename}:{f.lineno}" if f is not None else str(path)


@contextlib.contextmanager
def _user_code(path: Path, what: str, passthrough: tuple = ()):
    """Turn an exception raised by the experiment file's code into a one-line :class:`ConfigError` naming
    ``path`` and the line (errors of the library and ``passthrough`` types pass through; ``LREID_DEBUG=1`` lets
    everything through)."""
    try:
        yield
    except (LReIDError, *passthrough):
        raise
    except Exception as e:
        if os.environ.get(DEBUG_ENV):
            raise
        raise ConfigError(f"{_raised_in(path, e)}: {what} raised {type(e).__name__}: {e} (set {DEBUG_ENV}=1 for "
                          "the traceback)") from None


def load_experiment(path: str | Path) -> ModuleType:
    """Import an experiment file as a module.

    Raises:
        ConfigError: the file is missing, fails to import or raises while it is executed (the message names
            the file and line; ``LREID_DEBUG=1`` lets the exception through), or lacks ``config`` / ``stream``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"experiment file {path} not found")
    name = f"lreid_experiment_{path.stem.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with _user_code(path, "the experiment file", passthrough=(SyntaxError, ImportError)):
            spec.loader.exec_module(module)
    except SyntaxError as e:
        raise ConfigError(f"{path}:{e.lineno}: syntax error: {e.msg}") from None
    except ImportError as e:
        raise ConfigError(f"{path}: import failed: {e}") from None
    if not isinstance(getattr(module, "config", None), RunConfig):
        raise ConfigError(f"{path}: define `config = RunConfig(...)` at module level")
    if not callable(getattr(module, "stream", None)):
        raise ConfigError(f"{path}: define `def stream(config): ...` returning a stream "
                          "(e.g. lifelong_reid.streams.lifelong_stream(...))")
    return module


def resolve_config(module: ModuleType, *, overrides=(), synthetic: bool = False, plugins=(), **options) -> RunConfig:
    """A copy of ``module.config`` with command-line ``options`` (``None`` values ignored), the ``plugins``
    named on the command line (``--plugin NAME``: added to ``config.plugins`` with default settings) and
    ``--set`` ``overrides`` applied, in that order. With ``synthetic`` (``lreid run --synthetic``) the module's
    ``synthetic_config(config)`` is applied first and ``extra["synthetic"]`` is set, so that ``stream(config)``
    builds the offline variant.

    Raises:
        ConfigError: an unknown key, plugin or setting, or a badly typed value; ``synthetic`` for a module
            without ``synthetic_config``.
    """
    config = copy.deepcopy(module.config)
    if synthetic:
        variant = getattr(module, "synthetic_config", None)
        if variant is None:
            raise ConfigError(f"{getattr(module, '__file__', 'the experiment')} has no synthetic variant (define "
                              "`def synthetic_config(config): ...`)")
        config = variant(config)
        config.extra["synthetic"] = True
    for key, value in options.items():
        if value is not None:
            config.set(key, value)
    if plugins:
        from lifelong_reid.registry import check_names

        check_names(plugins, what="--plugin")
        for name in plugins:
            config.plugins.setdefault(name, {})
    for assignment in overrides:
        config.override(assignment)
    return config


def call_stream(module: ModuleType, config: RunConfig):
    """Call the experiment's ``stream(config)`` and check that it returned a stream.

    Raises:
        ConfigError: ``stream`` raised (file and line named; ``LREID_DEBUG=1`` lets the exception through) or
            returned something other than a :class:`~lifelong_reid.streams.ReIDBenchmark`.
    """
    from lifelong_reid.streams.benchmark import ReIDBenchmark

    path = Path(getattr(module, "__file__", "experiment"))
    with _user_code(path, "stream(config)"):
        benchmark = module.stream(config)
    if not isinstance(benchmark, ReIDBenchmark):
        raise ConfigError(f"{path}: stream(config) returned {type(benchmark).__name__}, not a stream; return "
                          "one built by lifelong_reid.streams (e.g. build_stream(...), lifelong_stream(...))")
    return benchmark
