"""Inputs a hostile or careless user gives (issue 14): each stops with one line, runs no code and loses nothing.
Started with the crafted checkpoint and out-of-range settings; the rest of issue 14's table is still to come."""
from __future__ import annotations

import torch
from click.testing import CliRunner

from lifelong_reid.cli import main
from lifelong_reid.errors import CheckpointError
from lifelong_reid.strategy.checkpoint import load_checkpoint


class _Payload:
    """Unpickling this calls ``pathlib.Path.touch(marker)``: code a checkpoint must never run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import pathlib

        return pathlib.Path.touch, (pathlib.Path(self.marker),)


def _crafted(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "crafted.pt"
    torch.save({"model": {}, "payload": _Payload(marker)}, path)
    return path, marker


def test_a_crafted_checkpoint_is_refused_and_runs_no_code(tmp_path):
    path, marker = _crafted(tmp_path)
    try:
        load_checkpoint(path)
        raise AssertionError("the crafted checkpoint loaded")
    except CheckpointError as e:
        assert str(path) in str(e) and "cannot read checkpoint" in str(e)
    assert not marker.exists()


def test_lreid_eval_and_search_refuse_a_crafted_checkpoint(tmp_path):
    from dataset_fixtures import write_market_layout

    path, marker = _crafted(tmp_path)
    domain = write_market_layout(tmp_path / "market", images=True)
    for args in (["eval", str(path), "--domain", str(domain), "--output", str(tmp_path / "out")],
                 ["search", str(path), str(domain / "query"), str(domain / "bounding_box_test")]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code != 0 and "Traceback" not in r.output, r.output
        assert "cannot read checkpoint" in r.output, r.output
    assert not marker.exists()
