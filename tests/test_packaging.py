"""A regular (non-editable) build ships the plugins, streams, model configs and entry points."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_holds_plugins_streams_configs_and_entry_points(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, cwd=tmp_path)
    wheel = next(tmp_path.glob("lifelong_reid-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for expected in ("lifelong_reid/plugins/core.py", "lifelong_reid/plugins/vladr/plugin.py",
                     "lifelong_reid/streams/lifelong.py", "lifelong_reid/text/prompts.py",
                     "lifelong_reid/models/configs/lreid-tiny-vit.json", "lifelong_reid/hookspecs.py"):
        assert expected in names
    # every module of the source tree ships (setup.cfg lists packages explicitly)
    for folder, package in (("lifelong_reid", "lifelong_reid"), ("plugins", "lifelong_reid/plugins"),
                            ("streams", "lifelong_reid/streams")):
        for module in (ROOT / folder).rglob("*.py"):
            shipped = f"{package}/{module.relative_to(ROOT / folder).as_posix()}"
            assert shipped in names, f"{shipped} is missing from the wheel (add its package to setup.cfg)"
    assert not any(n.startswith(("plugins/", "streams/")) for n in names)  # no top-level packages
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "lreid = lifelong_reid.cli:main" in entry_points
    assert "core = lifelong_reid.plugins.core:PLUGIN" in entry_points
    assert "vladr = lifelong_reid.plugins.vladr:PLUGIN" in entry_points
