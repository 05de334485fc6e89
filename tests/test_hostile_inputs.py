"""Inputs a hostile or careless user gives (issue 14), one row each: the exit code, the one-line message, and
"nothing lost": every file that existed before the command has the same SHA-256 after it, and a refused
command (exit 2) created no file at all.

``python tests/test_hostile_inputs.py`` prints the table (case, exit code, message) in Markdown.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest
import torch
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))  # dataset_fixtures, when run as a script

from dataset_fixtures import touch, write_image, write_market_layout  # noqa: E402
from lifelong_reid.cli import main  # noqa: E402

TINY = '''
from lifelong_reid import hookimpl
from lifelong_reid.testing import tiny_config, tiny_stream

config = tiny_config(name="tiny-hostile", epochs=1)

def stream(config):
    return tiny_stream(config, num_domains=2, num_unseen=1)

@hookimpl
def lreid_extra_losses(strategy):
    import torch
    if strategy.config.extra.get("nan_at") == strategy.experience.current_experience:
        return {"probe": torch.tensor(float("nan"))}
'''

DISK = '''
from lifelong_reid.data import build_transforms
from lifelong_reid.data.registry import read_any
from lifelong_reid.data.side_info import attach_side_info, load_captions, load_part_boxes
from lifelong_reid.streams import lifelong_stream
from lifelong_reid.testing import tiny_config

config = tiny_config(name="disk", batch_p=2, batch_k=2)

def stream(config):
    domains = [read_any(n, config.data_root) for n in config.extra.get("domains", "a,b").split(",")]
    side = {}
    if "captions" in config.extra:
        side["captions"] = load_captions(config.extra["captions"])
    if "part_boxes" in config.extra:
        side["part_boxes"] = load_part_boxes(config.extra["part_boxes"])
    if side:
        domains = [attach_side_info(d, **side) for d in domains]
    return lifelong_stream(domains, [], transforms=build_transforms(config.image_size, pad=2), name="disk")
'''


class _Payload:
    """Unpickling this calls ``pathlib.Path.touch(marker)``: code a checkpoint must never run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import pathlib

        return pathlib.Path.touch, (pathlib.Path(self.marker),)


def crafted_checkpoint(path: Path, marker: Path) -> Path:
    torch.save({"model": {}, "payload": _Payload(marker)}, path)
    return path


# --------------------------------------------------------------------------- the world a case starts from


def make_world(root: Path, trained: Optional[Path] = None) -> Path:
    """``exp_tiny.py`` (synthetic), ``exp_disk.py`` (reads ``data/a``, ``data/b``: Market-1501 layouts of real
    JPEGs), and, with ``trained``, a copy of a finished tiny run in ``run/``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "exp_tiny.py").write_text(TINY)
    (root / "exp_disk.py").write_text(DISK)
    for name in ("a", "b"):
        write_market_layout(root / "data" / name, images=True)
    if trained is not None:
        shutil.copytree(trained, root / "run")
    return root


def ckpt(w: Path) -> str:
    return str(next((w / "run" / "checkpoints").glob("exp2_*.pt")))


def disk(*extra) -> list[str]:
    return ["run", "exp_disk.py", "--data-root", "data", "--output", "out", "--no-progress", *extra]


def broken_image(w: Path, content: bytes = b"\xff\xd8\xff\xe0 truncated") -> None:
    (w / "data" / "b" / "bounding_box_test" / "0007_c1s1_000000_00.jpg").write_bytes(content)


def odd_image(w: Path, **kwargs) -> None:
    """One more training image, of a new identity (so also a single-image identity)."""
    write_image(w / "data" / "b" / "bounding_box_train" / "0009_c1s1_000000_00.jpg", **kwargs)


def nan_weights(w: Path) -> str:
    path = Path(ckpt(w))
    state = torch.load(path, weights_only=True)
    for v in state["strategy"]["model"].values():
        if v.is_floating_point():
            v.fill_(float("nan"))
    torch.save(state, w / "nan.pt")
    return str(w / "nan.pt")


def other_model(w: Path) -> str:
    """The trained checkpoint with one tensor more than this model has (as another model's would)."""
    state = torch.load(ckpt(w), weights_only=True)
    state["strategy"]["model"]["visual.extra_block.weight"] = torch.zeros(2, 2)
    torch.save(state, w / "other.pt")
    return str(w / "other.pt")


def crafted_resume(w: Path) -> list[str]:
    crafted_checkpoint(w / "run" / "checkpoints" / "exp9_synth9.pt", w / "pwned")
    return ["run", "exp_tiny.py", "--output", "run", "--resume"]


def broken_manifest(w: Path) -> None:
    folder = w / "data" / "m"
    write_image(folder / "img.jpg")
    (folder / "manifest.csv").write_text("path,pid,camid,split\nimg.jpg,1,0,train\n../../../../etc/passwd,2,0,train\n")


def duke_foo(w: Path) -> None:
    write_market_layout(w / "data" / "DukeMTMC-reID", images=True, name="{pid:04d}_c{cam}_f{k:07d}.jpg")
    write_image(w / "data" / "DukeMTMC-reID" / "bounding_box_train" / "foo.jpg")


def empty_query(w: Path) -> None:
    for p in (w / "data" / "a" / "query").iterdir():
        p.unlink()


def side_file(w: Path, name: str, table: dict) -> str:
    (w / name).write_text(json.dumps(table))
    return f"extra.{Path(name).stem}={w / name}"


def broken_plugin_site(w: Path) -> Path:
    site = w / "site"
    (site / "brokenpkg-0.1.dist-info").mkdir(parents=True)
    (site / "broken_plugin.py").write_text("raise ImportError('missing dependency xyz')\n")
    (site / "brokenpkg-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenpkg\nVersion: 0.1\n")
    (site / "brokenpkg-0.1.dist-info" / "entry_points.txt").write_text("[lifelong_reid.plugins]\nbroken = broken_plugin\n")
    return site


@dataclass
class Case:
    """A row: ``setup(world)`` prepares files and returns the ``lreid`` arguments; the command must exit with
    ``code`` and print ``message``; ``writes``: it may create files (a run that gets going)."""

    name: str
    setup: Callable[[Path], list[str]]
    code: int
    message: str
    writes: bool = False
    needs_run: bool = False
    site: bool = False


def _seq(*steps):
    """Run every step but the last for its side effect; return the last one's value."""
    return steps[-1]


CASES = [
    # checkpoints that would run code
    Case("crafted checkpoint: lreid eval", lambda w: ["eval", str(crafted_checkpoint(w / "c.pt", w / "pwned")),
                                                      "--domain", "data/a", "--output", "ev"],
         2, "c.pt: cannot read checkpoint: it holds a Python object (getattr) besides tensors"),
    Case("crafted checkpoint: lreid search", lambda w: ["search", str(crafted_checkpoint(w / "c.pt", w / "pwned")),
                                                        "data/a/query", "data/a/bounding_box_test"],
         2, "c.pt: cannot read checkpoint: it holds a Python object (getattr) besides tensors"),
    Case("crafted checkpoint: lreid run --resume", crafted_resume, 2, "exp9_synth9.pt: cannot read checkpoint",
         needs_run=True),
    Case("checkpoint of another model: lreid eval",
         lambda w: ["eval", other_model(w), "--domain", "data/a", "--output", "ev"],
         2, "1 unexpected and 0 missing tensors (under visual.extra_block)", needs_run=True),
    # settings
    Case("--set lr=abc", lambda w: ["run", "exp_tiny.py", "--output", "out", "--set", "lr=abc"],
         2, "lr expects a number, got 'abc'"),
    Case("--set weight_decay=abc", lambda w: ["run", "exp_tiny.py", "--output", "out", "--set", "weight_decay=abc"],
         2, "weight_decay expects a number, got 'abc'"),
    Case("--set label_smoothing=abc", lambda w: ["run", "exp_tiny.py", "--output", "out", "--set",
                                                 "label_smoothing=abc"], 2, "label_smoothing expects a number"),
    Case("--set lr=-1", lambda w: ["run", "exp_tiny.py", "--output", "out", "--set", "lr=-1"],
         2, "lr must be a finite number > 0, got -1.0"),
    Case("--set lr=NaN", lambda w: ["run", "exp_tiny.py", "--output", "out", "--set", "lr=NaN"],
         2, "lr must be a finite number > 0, got nan"),
    Case("--set label_smoothing=1", lambda w: ["run", "exp_tiny.py", "--output", "out", "--set", "label_smoothing=1"],
         2, "label_smoothing must be in [0, 1), got 1.0"),
    Case("batch_p larger than a domain's identities", lambda w: disk("--set", "batch_p=4"),
         2, "training domain 'a' has 3 identities, fewer than batch_p=4"),
    # images
    Case("truncated JPEG in the second domain", lambda w: _seq(broken_image(w), disk()),
         2, "0007_c1s1_000000_00.jpg: cannot read image (OSError: "),
    Case("zero-byte image", lambda w: _seq(broken_image(w, b""), disk()),
         2, "0007_c1s1_000000_00.jpg: cannot read image (empty file (0 bytes))"),
    Case("text file named .jpg", lambda w: _seq(broken_image(w, b"hello"), disk()),
         2, "0007_c1s1_000000_00.jpg: cannot read image (not an image)"),
    Case("PNG named .jpg", lambda w: _seq(odd_image(w, fmt="PNG"), disk()),
         0, "1 content in another format than the extension says (decoded by content)", writes=True),
    Case("grayscale image", lambda w: _seq(odd_image(w, mode="L"), disk()),
         0, "1 not RGB (converted to RGB)", writes=True),
    Case("CMYK image", lambda w: _seq(odd_image(w, mode="CMYK"), disk()),
         0, "1 not RGB (converted to RGB)", writes=True),
    Case("1x1 image", lambda w: _seq(odd_image(w, size=(1, 1)), disk()),
         0, "1 smaller than 8 pixels on a side", writes=True),
    Case("single-image identity", lambda w: _seq(odd_image(w), disk()), 0, "final seen", writes=True),
    Case("query identity absent from the gallery",
         lambda w: _seq(write_image(w / "data" / "a" / "query" / "0099_c1s1_000000_00.jpg"), disk()),
         0, "a: 1 of 3 queries have no valid gallery match under the protocol", writes=True),
    Case("caption file naming missing images",
         lambda w: disk("--set", side_file(w, "captions.json", {"0001_c1s1_000000_00.jpg": "a man",
                                                                 "missing/0042_c1s1_000000_00.jpg": "nobody"})),
         0, "1 of 2 captions entries name no image of a (e.g. 'missing/0042_c1s1_000000_00.jpg')", writes=True),
    Case("part boxes outside the image",
         lambda w: disk("--set", side_file(w, "part_boxes.json", {
             "0001_c1s1_000000_00.jpg": {"head": [-5, -5, 8, 10], "legs": [100, 100, 120, 130]}})),
         0, "a: 1 part boxes extend beyond their image (clipped to it), 1 lie wholly outside it", writes=True),
    Case("manifest path ../../../../etc/passwd", lambda w: _seq(broken_manifest(w), disk("--set", "extra.domains=m")),
         2, "path '../../../../etc/passwd' leaves the dataset folder"),
    # training and evaluation
    Case("diverging run (--set lr=1e3 --epochs 3)",
         lambda w: ["run", "exp_tiny.py", "--output", "out", "--set", "lr=1e3", "--epochs", "3", "--no-progress"],
         2, "training diverged: non-finite loss (id=nan, triplet=nan) at experience 1, epoch 2", writes=True),
    Case("NaN loss in the second experience (earlier checkpoint kept)",
         lambda w: ["run", "exp_tiny.py", "--output", "out", "--set", "extra.nan_at=1", "--no-progress"],
         2, "non-finite loss (probe=nan) at experience 2, epoch 1, iteration 1", writes=True),
    Case("NaN features (a checkpoint of NaN weights)",
         lambda w: ["eval", nan_weights(w), "--domain", "data/a", "--output", "ev", "--no-progress"],
         2, "a query features are NaN or infinite", needs_run=True),
    # outputs
    Case("lreid eval --output TRAINING_RUN", lambda w: ["eval", ckpt(w), "--domain", "data/a", "--output", "run"],
         2, "run holds a training run (config.json / checkpoints)", needs_run=True),
    Case("lreid search --output TRAINING_RUN/ranked.json",
         lambda w: ["search", ckpt(w), "data/a/query", "data/a/bounding_box_test", "--output", "run/ranked.json"],
         2, "run holds a training run", needs_run=True),
    Case("unwritable output folder",
         lambda w: _seq(touch(w / "afile"), ["run", "exp_tiny.py", "--output", "afile/out"]),
         2, "afile/out: cannot write there"),
    Case("existing run without --resume", lambda w: ["run", "exp_tiny.py", "--output", "run"],
         2, "run already holds a run; continue it with --resume", needs_run=True),
    # experiment files and plugins
    Case("experiment file that raises at import",
         lambda w: _seq((w / "bad.py").write_text("x = 1\nraise RuntimeError('boom')\n"), ["run", "bad.py"]),
         2, "bad.py:2: the experiment file raised RuntimeError: boom"),
    Case("experiment file with a syntax error",
         lambda w: _seq((w / "bad.py").write_text("config = (\n"), ["run", "bad.py"]), 2, "bad.py:1: syntax error"),
    Case("stream() that raises",
         lambda w: _seq((w / "bad.py").write_text(TINY.replace("return tiny_stream", "1 / 0\n    return tiny_stream")),
                        ["run", "bad.py", "--output", "out"]),
         2, "stream(config) raised ZeroDivisionError: division by zero"),
    Case("stream() that returns None",
         lambda w: _seq((w / "bad.py").write_text(TINY.replace("return tiny_stream(", "tiny_stream(")),
                        ["run", "bad.py", "--output", "out"]),
         2, "stream(config) returned NoneType, not a stream"),
    Case("plugin package that fails to import: lreid run --plugin broken",
         lambda w: ["run", "exp_tiny.py", "--output", "out", "--plugin", "broken"],
         2, "plugin 'broken' cannot be used: its entry point broken_plugin failed to import (ImportError: missing "
            "dependency xyz)", site=True),
    Case("plugin package that fails to import: lreid plugins list", lambda w: ["plugins", "list"],
         0, "BROKEN: its entry point broken_plugin failed to import", site=True),
    Case("unknown plugin in --block", lambda w: ["run", "exp_tiny.py", "--output", "out", "--block", "nope"],
         2, "unknown plugin 'nope' in --block"),
    # datasets check
    Case("datasets check: truncated JPEG", lambda w: _seq(broken_image(w), ["datasets", "check", "data"]),
         1, "malformed  b at data/b: data/b/bounding_box_test/0007_c1s1_000000_00.jpg: cannot read image"),
    Case("datasets check: zero-byte image", lambda w: _seq(broken_image(w, b""), ["datasets", "check", "data"]),
         1, "cannot read image (empty file (0 bytes))"),
    Case("datasets check: foo.jpg in Duke's bounding_box_train", lambda w: _seq(duke_foo(w), ["datasets", "check", "data"]),
         1, "foo.jpg: file name does not follow the DukeMTMC-reID pattern 'PPPP_cC_fFFFFFFF.jpg'"),
    Case("datasets check: empty query/", lambda w: _seq(empty_query(w), ["datasets", "check", "data"]),
         1, "data/a/query holds no images"),
    Case("datasets check: bad manifest", lambda w: _seq(broken_manifest(w), ["datasets", "check", "data"]),
         1, "malformed  m at data/m: data/m/manifest.csv:3: path '../../../../etc/passwd' leaves the dataset folder"),
    Case("datasets check --stream lifelong:a,b", lambda w: ["datasets", "check", "data", "--stream", "lifelong:a,b"],
         0, "stream lifelong:a,b: ready"),
    Case("datasets check --stream dg:a->b (folders)", lambda w: ["datasets", "check", "data", "--stream", "dg:a->b"],
         0, "stream dg:a->b: ready"),
]


def snapshot(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def invoke(case: Case, world: Path):
    """Run the case in ``world`` (as the working directory); returns ``(result, files before, files after)``."""
    import os

    from lifelong_reid.registry import discover

    args = case.setup(world)
    before = snapshot(world)
    cwd = os.getcwd()
    os.chdir(world)
    site = str(broken_plugin_site(world)) if case.site else None
    if site:
        before = snapshot(world)
        sys.path.insert(0, site)
        discover(refresh=True)
    try:
        result = CliRunner().invoke(main, args)
    finally:
        os.chdir(cwd)
        if site:
            sys.path.remove(site)
            discover(refresh=True)
    return result, before, snapshot(world)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished two-experience tiny run (config.json, checkpoints, results.json)."""
    root = tmp_path_factory.mktemp("trained")
    (root / "exp_tiny.py").write_text(TINY)
    r = CliRunner().invoke(main, ["run", str(root / "exp_tiny.py"), "--output", str(root / "run"), "--no-progress"])
    assert r.exit_code == 0, r.output
    return root / "run"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input(case, tmp_path, request):
    world = make_world(tmp_path / "w", request.getfixturevalue("trained") if case.needs_run else None)
    result, before, after = invoke(case, world)
    out = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in out, out
    assert result.exit_code == case.code, out
    assert case.message in out, out
    if case.code == 2:  # the error is one line on stderr
        assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1, result.stderr
        assert case.message in result.stderr, result.stderr
    lost = [f for f in before if after.get(f) != before[f]]
    assert not lost, f"files changed or removed: {lost}"
    if not case.writes:
        assert set(after) == set(before), f"files written: {sorted(set(after) - set(before))}"
    assert not (world / "pwned").exists()


def test_the_nan_loss_run_keeps_the_checkpoint_of_the_experience_before(tmp_path):
    world = make_world(tmp_path / "w")
    case = next(c for c in CASES if c.name.startswith("NaN loss in the second"))
    result, _, after = invoke(case, world)
    assert result.exit_code == 2
    assert "out/checkpoints/exp1_synth1.pt" in after and json.loads((world / "out" / "results.json").read_text())[
        "matrix"]["rows"] == ["initial", "after:synth1"]


def test_skip_mode_counts_the_skipped_steps(tmp_path):
    world = make_world(tmp_path / "w")
    case = Case("skip", lambda w: ["run", "exp_tiny.py", "--output", "out", "--set", "extra.nan_at=1", "--set",
                                   "nonfinite_loss=skip", "--no-progress"], 2, "")
    result, _, _ = invoke(case, world)  # every step of experience 2 is non-finite: skipping cannot help
    assert result.exit_code == 2 and "every step of experience 2, epoch 1 had a non-finite loss" in result.output
    log = (world / "out" / "run.log").read_text()
    assert "step skipped (1 so far)" in log


def test_plugin_state_that_weights_only_loading_cannot_read_is_refused_at_saving():
    from dataclasses import dataclass as dc

    from lifelong_reid.errors import CheckpointError
    from lifelong_reid.strategy.checkpoint import check_plain

    @dc
    class Settings:
        weight: float = 1.0

    check_plain({"model": {"w": torch.zeros(2)}, "plugins": {"p": {"n": 3, "xs": [1.0, "a", None]}}})
    with pytest.raises(CheckpointError, match=r"state.plugins.p.settings is a .*Settings; checkpoints hold only"):
        check_plain({"plugins": {"p": {"settings": Settings()}}})


if __name__ == "__main__":  # the table of the closing note
    import tempfile

    print("| case | exit | message (first line matching) | files before the command |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        trained_root = Path(tmp) / "trained"
        trained_root.mkdir()
        (trained_root / "exp_tiny.py").write_text(TINY)
        CliRunner().invoke(main, ["run", str(trained_root / "exp_tiny.py"), "--output", str(trained_root / "run")])
        for i, case in enumerate(CASES):
            world = make_world(Path(tmp) / f"w{i}", trained_root / "run" if case.needs_run else None)
            result, before, after = invoke(case, world)
            lines = [line for line in result.output.splitlines() if case.message in line] or [""]
            kept = all(after.get(f) == before[f] for f in before) and (case.writes or set(after) == set(before))
            print(f"| {case.name} | {result.exit_code} | `{lines[0][:160]}` | {'nothing lost' if kept else 'LOST'} |")
