"""``lreid index build / add`` and ``lreid search --index`` (issue 15): the indexed search returns what
embedding the gallery again returns, an interrupted build resumes from its chunks, ``add`` embeds only new
images, and an index of another model is refused."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import lifelong_reid.index as index_module
from lifelong_reid.cli import main
from lifelong_reid.errors import ConfigError
from lifelong_reid.index import add_to_index, build_index, search_index
from lifelong_reid.inference import load_strategy, search_folders
from lifelong_reid.strategy.checkpoint import latest_checkpoint, list_checkpoints
from lifelong_reid.synthetic import SyntheticDomain
from lifelong_reid.testing import PluginHarness

pytest.importorskip("faiss")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("index")
    PluginHarness().run(root / "run")
    SyntheticDomain("gallery", 5, num_train_ids=0, num_test_ids=12, num_cameras=2, images_per_camera=2).save(root / "data")
    return root


def _strategy(world, **kwargs):
    return load_strategy(latest_checkpoint(world / "run" / "checkpoints"), device="cpu", progress=False, **kwargs)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_the_index_returns_what_embedding_the_gallery_returns(world, tmp_path, metric):
    strategy = _strategy(world, overrides=[f"eval_metric={metric}"])
    build_index(strategy, world / "data" / "bounding_box_test", tmp_path / "idx", chunk=7, echo=lambda *a: None)
    got = search_index(strategy, tmp_path / "idx", world / "data" / "query", top=5)
    want = search_folders(strategy, world / "data" / "query", world / "data" / "bounding_box_test", top=5,
                          backend="torch")
    assert [g["query"] for g in got] == [w["query"] for w in want]
    for g, w in zip(got, want):
        assert [r["path"] for r in g["results"]] == [r["path"] for r in w["results"]]
        # float32 inner products; squared Euclidean through |q|^2 - 2<q, g> + |g|^2 loses digits to cancellation
        tol = {"abs": 1e-5} if metric == "cosine" else {"rel": 1e-3}
        assert [r["distance"] for r in g["results"]] == pytest.approx([r["distance"] for r in w["results"]], **tol)
        assert all(r["pid"] >= 0 and r["camid"] >= 0 for r in g["results"])  # from the Market-style names


def test_an_interrupted_build_resumes_from_its_chunks(world, tmp_path, monkeypatch):
    strategy = _strategy(world)
    embed, calls = index_module._embed, []

    def failing(strategy, paths):
        calls.append(len(paths))
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return embed(strategy, paths)

    monkeypatch.setattr(index_module, "_embed", failing)
    with pytest.raises(KeyboardInterrupt):
        build_index(strategy, world / "data" / "bounding_box_test", tmp_path / "idx", chunk=10, echo=lambda *a: None)
    assert sorted(p.name for p in (tmp_path / "idx" / "chunks").glob("*.npy")) == ["00000.npy", "00001.npy"]
    calls.clear()
    monkeypatch.setattr(index_module, "_embed", lambda s, p: calls.append(len(p)) or embed(s, p))
    meta = build_index(strategy, world / "data" / "bounding_box_test", tmp_path / "idx", chunk=10,
                       echo=lambda *a: None)
    assert calls == [4]  # only the chunk the kill lost (images 20..23) is embedded again
    assert meta["count"] == 24 and not (tmp_path / "idx" / "chunks").exists()
    monkeypatch.setattr(index_module, "_embed", embed)
    fresh = build_index(strategy, world / "data" / "bounding_box_test", tmp_path / "fresh", chunk=10,
                        echo=lambda *a: None)
    assert search_index(strategy, tmp_path / "idx", world / "data" / "query") == [
        {**q, "results": q["results"]} for q in search_index(strategy, tmp_path / "fresh", world / "data" / "query")]
    assert fresh["fingerprint"] == meta["fingerprint"]


def test_add_embeds_only_new_images_and_ivf_indexes_work(world, tmp_path):
    strategy = _strategy(world)
    meta = build_index(strategy, world / "data" / "bounding_box_test", tmp_path / "idx", factory="IVF2,Flat",
                       echo=lambda *a: None)
    assert meta["factory"] == "IVF2,Flat"
    added = add_to_index(strategy, tmp_path / "idx", world / "data" / "query")
    assert added["added"] == 24 and added["count"] == 48
    assert add_to_index(strategy, tmp_path / "idx", world / "data" / "query")["added"] == 0
    top = search_index(strategy, tmp_path / "idx", world / "data" / "query", top=1)
    assert all(q["results"][0]["path"] == q["query"] for q in top)  # each query now finds itself first
    with pytest.raises(ConfigError, match="already holds an index"):
        build_index(strategy, world / "data" / "query", tmp_path / "idx")


def test_the_command_line_refuses_an_index_of_another_model(world, tmp_path):
    first, last = list_checkpoints(world / "run" / "checkpoints")[:1] + list_checkpoints(world / "run" / "checkpoints")[-1:]
    r = CliRunner().invoke(main, ["index", "build", str(last), str(world / "data" / "bounding_box_test"), "--output",
                                  str(tmp_path / "idx")])
    assert r.exit_code == 0 and "index of 24 images (Flat" in r.output, r.output
    r = CliRunner().invoke(main, ["search", str(last), str(world / "data" / "query"), "--index", str(tmp_path / "idx"),
                                  "--output", str(tmp_path / "ranked.json")])
    assert r.exit_code == 0 and len(json.loads((tmp_path / "ranked.json").read_text())) == 24
    r = CliRunner().invoke(main, ["search", str(first), str(world / "data" / "query"), "--index", str(tmp_path / "idx")])
    assert r.exit_code == 2 and "was built by another model" in r.output
    r = CliRunner().invoke(main, ["search", str(last), str(world / "data" / "query")])
    assert r.exit_code == 2 and "give a GALLERY_DIR to embed, or --index" in r.output
