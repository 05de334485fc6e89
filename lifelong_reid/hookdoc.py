"""The hook reference, generated from ``hookspecs.py``: ``python -m lifelong_reid.hookdoc > docs/hooks.md``.

Each hook gets its signature, whether the first result wins, its documentation (arguments, return value,
when it is called) and the built-in plugins that implement it. ``tests/test_hookdoc.py`` fails when
``docs/hooks.md`` is stale.
"""
from __future__ import annotations

import inspect
import re

from lifelong_reid import hookspecs
from lifelong_reid.hooks import PROJECT


def spec_functions() -> list:
    """The hookspec functions in source order."""
    fns = [f for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("lreid_")]
    return sorted(fns, key=lambda f: f.__code__.co_firstlineno)


def sections() -> dict[str, list]:
    """``{phase title: [spec function, ...]}`` following the ``# ---- phase`` comments of ``hookspecs.py``."""
    source = inspect.getsource(hookspecs).splitlines()
    marks = [(i + 1, m.group(1).strip()) for i, line in enumerate(source)
             if (m := re.match(r"^# -+ (.+)$", line))]
    out: dict[str, list] = {}
    for fn in spec_functions():
        line = fn.__code__.co_firstlineno
        title = [t for start, t in marks if start < line][-1]
        out.setdefault(title, []).append(fn)
    return out


def builtin_implementers() -> dict[str, list[str]]:
    """``{hook: [built-in plugin names]}`` (plugins of this distribution, built with default settings)."""
    from lifelong_reid.registry import discover, plugin_hooks

    found: dict[str, list[str]] = {}
    for info in discover().values():
        if info.source != "built-in" or info.error:
            continue
        for hook in plugin_hooks(info.create(info.validate({}))):
            found.setdefault(hook, []).append(info.name)
    return found


def render() -> str:
    """The Markdown hook reference."""
    impls = builtin_implementers()
    major, minor = hookspecs.API_VERSION
    lines = [f"# Hook reference (Plugin API {major}.{minor})", "",
             "Generated from `lifelong_reid/hookspecs.py` by `python -m lifelong_reid.hookdoc > docs/hooks.md`; "
             "do not edit by hand. How to write a plugin: [writing-a-plugin.md](writing-a-plugin.md).", "",
             "An implementation takes any subset of a hook's arguments, by name. Implementations run last "
             "registered first; `@hookimpl(tryfirst=True)` / `@hookimpl(trylast=True)` move one to the front or "
             "the back.", ""]
    for title, fns in sections().items():
        lines += [f"## {title[0].upper() + title[1:]}", ""]
        for fn in fns:
            opts = getattr(fn, f"{PROJECT}_spec", {}) or {}
            sig = f"{fn.__name__}({', '.join(inspect.signature(fn).parameters)})"
            lines += [f"### `{sig}`", ""]
            if opts.get("firstresult"):
                lines += ["*firstresult*: the first non-`None` result wins and the remaining implementations "
                          "are not called.", ""]
            lines += [inspect.getdoc(fn), ""]
            who = impls.get(fn.__name__)
            lines += [f"Built-in implementations: {', '.join(f'`{w}`' for w in who) if who else 'none'}.", ""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
