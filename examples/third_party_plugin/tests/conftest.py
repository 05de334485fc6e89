# lifelong_reid's fixtures for plugin authors (lreid_harness, lreid_plugin). In a project's top-level
# conftest.py, `pytest_plugins = ["lifelong_reid.testing"]` does the same.
from lifelong_reid.testing import lreid_harness, lreid_plugin  # noqa: F401
