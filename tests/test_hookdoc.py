"""The hook reference (docs/hooks.md) is generated from hookspecs.py and must not be stale."""
from __future__ import annotations

from pathlib import Path

from lifelong_reid import hookdoc

DOC = Path(__file__).resolve().parents[1] / "docs" / "hooks.md"


def test_hook_reference_is_up_to_date():
    assert DOC.read_text() == hookdoc.render(), \
        "docs/hooks.md is stale: run `python -m lifelong_reid.hookdoc > docs/hooks.md`"


def test_every_hook_and_its_built_in_implementers_are_listed():
    text = hookdoc.render()
    for fn in hookdoc.spec_functions():
        assert f"### `{fn.__name__}(" in text
    assert "### `lreid_assign_targets(strategy, experience, dataset, epoch, iteration)`\n\n*firstresult*" in text
    section = text.split("### `lreid_adapt_model(")[1].split("###")[0]
    assert "Built-in implementations: `firm`, `graft`, `mambapro`, `muva`, `vladr`." in section
