"""Built-in plugins, importable as ``lifelong_reid.plugins``.

Each module is one technique and is registered through the ``lifelong_reid.plugins`` entry-point group
(``setup.cfg``), exactly like a third-party plugin:

- ``core``: the default implementations the strategy relies on (retrieval embedding).
"""
