"""The pluggy markers. Plugins import :data:`hookimpl` (re-exported as ``lifelong_reid.hookimpl``)."""
import pluggy

PROJECT = "lreid"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
