"""``lreid eval`` and ``lreid search`` on a checkpoint written by ``lreid run``."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from PIL import Image

from lifelong_reid.cli import main
from lifelong_reid.synthetic import SyntheticDomain

EXPERIMENT = '''
from lifelong_reid.testing import tiny_config, tiny_stream
config = tiny_config(name="tiny-eval", epochs=1)
def stream(config):
    return tiny_stream(config, num_domains=1, num_unseen=0)
'''


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-experience run's checkpoint, and a synthetic dataset saved in the Market-1501 layout."""
    root = tmp_path_factory.mktemp("eval")
    exp = root / "exp.py"
    exp.write_text(EXPERIMENT)
    r = invoke("run", exp, "--output", root / "run", "--no-progress")
    assert r.exit_code == 0, r.output
    SyntheticDomain("saved", seed=5, num_train_ids=4, num_test_ids=6, num_cameras=2).save(root / "data" / "saved")
    return root / "run" / "checkpoints" / "exp1_synth1.pt", root


def test_eval_writes_results_and_report_for_a_readable_dataset(trained):
    ckpt, root = trained
    out = root / "eval-out"
    r = invoke("eval", ckpt, "--data-root", root / "data", "--domain", "saved", "--output", out, "--no-progress")
    assert r.exit_code == 0, r.output
    res = json.loads((out / "results.json").read_text())
    assert res["matrix"]["cols"] == ["saved"] and res["matrix"]["rows"] == ["checkpoint"]
    m = res["per_domain"]["saved"]
    assert 0 < m["mAP"] <= 100 and res["matrix"]["mAP"][0][0] == m["mAP"]
    assert "saved: mAP" in r.output
    report = (out / "report.md").read_text()
    for png in ("cmc.png", "ranked_saved.png", "matrix_mAP.png"):
        assert f"({png})" in report
        with Image.open(out / png) as im:
            assert im.size[0] > 100
    # the same numbers with re-ranking switched on from the command line differ (another ranking)
    r2 = invoke("eval", ckpt, "--data-root", root / "data", "--domain", "saved", "--output", root / "rr",
                "--set", "rerank=true", "--no-progress")
    assert r2.exit_code == 0, r2.output
    rr = json.loads((root / "rr" / "results.json").read_text())
    assert rr["per_domain"]["saved"]["mAP"] != m["mAP"]
    # the report describes one checkpoint and records the evaluation settings
    assert res["setting"] == "checkpoint" and "after each experience" not in report
    assert "## mAP of the checkpoint" in report and "exp1_synth1.pt" in report.splitlines()[0]
    assert res["evaluation"]["metric"] == "cosine" and res["evaluation"]["rerank"] is False
    assert rr["evaluation"]["rerank"] is True and (rr["evaluation"]["rerank_k1"], rr["evaluation"]["rerank_k2"],
                                                   rr["evaluation"]["rerank_lambda"]) == (20, 6, 0.3)
    assert "k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3)" in (root / "rr" / "report.md").read_text()
    assert "no re-ranking; protocols: market1501 (saved)" in report


def test_search_ranks_the_gallery_folder_for_every_query_image(trained):
    ckpt, root = trained
    data = root / "data" / "saved"
    out = root / "ranked.json"
    r = invoke("search", ckpt, data / "query", data / "bounding_box_test", "--top", "4", "--output", out,
               "--backend", "torch", "--no-progress")
    assert r.exit_code == 0, r.output
    ranked = json.loads(out.read_text())
    assert len(ranked) == len(list((data / "query").iterdir()))
    for item in ranked:
        dists = [x["distance"] for x in item["results"]]
        assert len(dists) == 4 and dists == sorted(dists)
    faiss = root / "ranked_faiss.json"
    assert invoke("search", ckpt, data / "query", data / "bounding_box_test", "--top", "4", "--output", faiss,
                  "--backend", "faiss", "--no-progress").exit_code == 0
    first = [i["results"][0]["path"] for i in ranked]
    assert first == [i["results"][0]["path"] for i in json.loads(faiss.read_text())]


@pytest.mark.parametrize("args, message", [
    (["eval", "missing.pt", "--domain", "x"], "no such dataset folder"),
    (["eval", "{ckpt}", "--domain", "nowhere"], "no such dataset folder"),
    (["search", "missing.pt", "{data}/query", "{data}/query"], "missing.pt: no such checkpoint file"),
    (["search", "{ckpt}", "{data}/nothing", "{data}/query"], "nothing: no such folder of images"),
    (["search", "{data}/query/../README.txt", "{data}/query", "{data}/query"], "no such checkpoint"),
])
def test_user_mistakes_are_one_line_errors(trained, args, message):
    ckpt, root = trained
    args = [a.format(ckpt=ckpt, data=root / "data" / "saved") for a in args]
    r = invoke(*args)
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output


def test_a_file_that_is_not_a_checkpoint_is_a_one_line_error(trained, tmp_path):
    ckpt, root = trained
    bad = tmp_path / "bad.pt"
    bad.write_text("{not a checkpoint")
    r = invoke("search", bad, root / "data" / "saved" / "query", root / "data" / "saved" / "query")
    assert r.exit_code == 2 and "cannot read checkpoint" in r.output
