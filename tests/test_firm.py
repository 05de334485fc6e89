"""FIRM: the sparse Jaccard graph against the dense reference algorithm, DBSCAN on it, pseudo-label quality on
hand-made cases, the memory's update rule, carry-over across re-clustering, each loss against its formula,
VSPF's zero gate, the plugin end to end on the unsupervised stream, its ablation switches, the channel-exchange
augmentation, the visible-infrared evaluation extras and the examples."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score

from lifelong_reid.errors import ConfigError
from lifelong_reid.evaluation.rerank import jaccard_graph
from lifelong_reid.plugins.firm import FIRMConfig, FIRMPlugin
from lifelong_reid.plugins.firm.clustering import (cluster_features, label_quality, pair_precision, sub_centres)
from lifelong_reid.plugins.firm.losses import (alignment_loss, cluster_nce, compactness_loss, ot_weighted_infonce,
                                               uniformity_loss)
from lifelong_reid.plugins.firm.memory import ClusterMemory, carry_over, text_carry_over
from lifelong_reid.plugins.firm.vspf import read_sentences
from lifelong_reid.testing import attach_plugin, stream_of_kind, tiny_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def blobs(k=12, per=10, d=16, spread=2.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, d, generator=g) * spread
    x = torch.repeat_interleave(centres, per, 0) + torch.randn(k * per, d, generator=g)
    return F.normalize(x, dim=1), torch.arange(k).repeat_interleave(per)


def dense_jaccard(feat: torch.Tensor, k1: int, k2: int) -> np.ndarray:
    """The k-reciprocal Jaccard distance written densely, loop by loop, as the cluster-contrast code
    (``compute_jaccard_distance``) does, with ``V`` rows ``softmax(-d)`` and ``k1 + 1`` neighbours."""
    n = len(feat)
    d = (2 - 2 * feat @ feat.t()).numpy().astype(np.float64)
    rank = np.argsort(d, axis=1, kind="stable")[:, :k1 + 1]

    def recip(i, k):
        forward = rank[i, :k + 1]
        return forward[np.where(rank[forward, :k + 1] == i)[0]]

    v = np.zeros((n, n))
    for i in range(n):
        r = recip(i, k1)
        expanded = r
        for c in r:
            rc = recip(c, int(np.around(k1 / 2)))
            if len(np.intersect1d(rc, r)) > 2 / 3 * len(rc):
                expanded = np.append(expanded, rc)
        expanded = np.unique(expanded)
        w = np.exp(-d[i, expanded])
        v[i, expanded] = w / w.sum()
    v = np.stack([v[rank[i, :k2]].mean(0) for i in range(n)])
    out = np.zeros((n, n))
    for i in range(n):
        inter = np.minimum(v[i][None], v).sum(1)
        out[i] = 1 - inter / (2 - inter)
    return np.clip(out, 0, None)


# --------------------------------------------------------------------------- clustering


def test_the_sparse_jaccard_graph_equals_the_dense_reference_and_dbscan_agrees():
    x, _ = blobs()
    ref = dense_jaccard(x, 8, 3)
    graph = jaccard_graph(x, 8, 3)
    rows = np.repeat(np.arange(len(x)), np.diff(graph.indptr))
    full = np.ones_like(ref)
    full[rows, graph.indices] = graph.data
    assert np.abs(full - ref).max() < 1e-6
    assert graph.nnz < 0.2 * ref.size  # only pairs with shared support are stored
    assert np.allclose(graph.diagonal(), 0, atol=1e-12)
    dense = DBSCAN(eps=0.6, min_samples=4, metric="precomputed").fit_predict(ref)
    sparse = DBSCAN(eps=0.6, min_samples=4, metric="precomputed").fit_predict(jaccard_graph(x, 8, 3, max_distance=0.6))
    assert np.array_equal(dense, sparse)


def test_clustering_recovers_separated_identities_and_leaves_a_stray_out():
    x, pid = blobs(k=8, per=8)
    labels = cluster_features(x, eps=0.6, min_samples=4, k1=7, k2=3, backend="torch")
    assert adjusted_rand_score(pid.numpy(), labels.numpy()) == 1.0 and labels[0] == 0  # numbered by appearance
    pair = F.normalize(torch.randn(1, x.shape[1], generator=torch.Generator().manual_seed(9)), dim=1).repeat(2, 1)
    labels = cluster_features(torch.cat([x, pair]), eps=0.6, min_samples=4, k1=7, k2=1, backend="torch")
    assert labels[-2:].tolist() == [-1, -1]  # two images are not a cluster of min_samples 4
    with pytest.raises(ConfigError, match="eps"):
        cluster_features(x, eps=1.5)


def test_label_quality_and_pair_precision_on_a_hand_made_case():
    labels = torch.tensor([0, 0, 1, 1, -1])
    pids = torch.tensor([5, 5, 5, 6, 7])
    q = label_quality(labels, pids)
    # clustered: 4 of 5; cluster 0 = {5, 5} (2 right), cluster 1 = {5, 6}, tie -> pid 5 (1 right) -> 3 / 4
    assert (q.purity, q.coverage, q.clusters) == (0.75, 0.8, 2)
    assert q.ari == pytest.approx(adjusted_rand_score([5, 5, 5, 6], [0, 0, 1, 1]))
    # visible clusters: 0 -> pid 1, 1 -> pid 2; infrared clusters: 0 -> pid 2, 1 -> pid 1, 2 -> pid 3
    v_lab, v_pid = torch.tensor([0, 0, 1, 1]), torch.tensor([1, 1, 2, 2])
    i_lab, i_pid = torch.tensor([0, 1, 2]), torch.tensor([2, 1, 3])
    assert pair_precision(v_lab, v_pid, i_lab, i_pid, torch.tensor([1, 1, -1])) == 0.5  # 0->1 right, 1->1 wrong
    assert math.isnan(pair_precision(v_lab, v_pid, i_lab, i_pid, torch.tensor([-1, -1, -1])))


def test_sub_centres_find_the_two_views_of_a_cluster():
    g = torch.Generator().manual_seed(0)
    a, b = F.normalize(torch.randn(2, 8, generator=g), dim=1)
    x = torch.cat([a + 0.05 * torch.randn(5, 8, generator=g), b + 0.05 * torch.randn(5, 8, generator=g)])
    subs = sub_centres(x, torch.zeros(10, dtype=torch.long), 2)
    assert subs.shape == (1, 2, 8)
    sims = subs[0] @ torch.stack([a, b]).t()
    assert sorted(sims.argmax(1).tolist()) == [0, 1] and sims.max(1).values.min() > 0.99


# --------------------------------------------------------------------------- memory


def test_the_memory_update_is_the_momentum_rule_in_batch_order():
    mem = ClusterMemory(momentum=0.1, temperature=0.05)
    p = F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=1)
    mem.reset(p)
    f = torch.tensor([[0.0, 2.0], [1.0, 1.0], [5.0, 5.0]])
    mem.update(f, torch.tensor([0, 0, -1]))
    step1 = F.normalize(0.1 * p[0] + 0.9 * F.normalize(f[0], dim=0), dim=0)
    step2 = F.normalize(0.1 * step1 + 0.9 * F.normalize(f[1], dim=0), dim=0)
    assert torch.allclose(mem.prototypes[0, 0], step2, atol=1e-6)
    assert torch.equal(mem.prototypes[1, 0], p[1])  # untouched (the -1 sample is skipped)
    logits = mem.logits(torch.tensor([[0.0, 3.0]]))
    assert torch.allclose(logits, torch.stack([step2[1], torch.tensor(1.0)])[None] / 0.05, atol=1e-5)


def test_the_memory_stays_on_the_device_of_its_prototypes():
    mem = ClusterMemory()
    mem.reset(torch.zeros(3, 2, 4, device="meta"))  # a device the memory was not created on
    assert mem.prototypes.device.type == "meta" and mem.prototypes.shape == (3, 2, 4)


def test_a_cluster_logit_is_its_best_sub_centre_and_updates_go_to_the_nearest():
    mem = ClusterMemory(momentum=0.5)
    mem.reset(torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]))  # one cluster, two views
    assert torch.allclose(mem.similarities(torch.tensor([[0.1, 1.0]])), torch.tensor([[F.normalize(
        torch.tensor([0.1, 1.0]), dim=0)[1]]]))
    mem.update(torch.tensor([[0.2, 1.0]]), torch.tensor([0]))
    assert torch.equal(mem.prototypes[0, 0], torch.tensor([1.0, 0.0]))  # the far view is untouched
    assert not torch.equal(mem.prototypes[0, 1], torch.tensor([0.0, 1.0]))


def test_carry_over_follows_the_clusters_through_a_relabelling():
    g = torch.Generator().manual_seed(1)
    old = F.normalize(torch.randn(5, 1, 16, generator=g), dim=-1)
    perm = torch.tensor([3, 0, 4, 1, 2])
    new = F.normalize(old[perm] + 0.2 * torch.randn(5, 1, 16, generator=g), dim=-1)
    stray = F.normalize(torch.randn(1, 1, 16, generator=g), dim=-1)  # a new cluster with no past
    protos, source = carry_over(old, torch.cat([new, stray]), carry=0.5)
    assert source[:5].tolist() == perm.tolist() and source[5] == -1
    assert torch.allclose(protos[:5], F.normalize(0.5 * old[perm] + 0.5 * new, dim=-1), atol=1e-6)
    assert torch.allclose(protos[5], stray[0])
    plain, none = carry_over(old, new, carry=0.0)
    assert torch.allclose(plain, new) and (none == -1).all()
    tokens = text_carry_over(torch.arange(5.0).view(5, 1, 1), torch.tensor([2, -1]), torch.full((2, 1, 1), 9.0))
    assert tokens.flatten().tolist() == [2.0, 9.0]


# --------------------------------------------------------------------------- losses


def test_each_loss_against_its_formula():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 3, generator=g)
    labels = torch.tensor([0, 2, -1, 1])
    assert torch.allclose(cluster_nce(logits, logits, labels), F.cross_entropy(logits[[0, 1, 3]], labels[[0, 1, 3]]))
    onehot = F.one_hot(torch.tensor([1, 0, 2, 2]), 3).float()
    assert torch.allclose(ot_weighted_infonce(logits, onehot), F.cross_entropy(logits, torch.tensor([1, 0, 2, 2])))
    soft = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 0.0], [0.2, 0.2, 0.6], [0.0, 0.0, 2.0]])
    logp = F.log_softmax(logits, 1)
    expected = -(0.5 * logp[0, 0] + 0.5 * logp[0, 1] + 0.2 * logp[2, 0] + 0.2 * logp[2, 1] + 0.6 * logp[2, 2]
                 + logp[3, 2]) / 3  # the massless row is left out; rows renormalised
    assert torch.allclose(ot_weighted_infonce(logits, soft), expected)
    # uniformity: two antipodal cluster means -> log exp(-2 * 4) = -8
    f = torch.tensor([[1.0, 0.0], [2.0, 0.0], [-1.0, 0.0]])
    assert torch.allclose(uniformity_loss(f, torch.tensor([0, 0, 1])), torch.tensor(-8.0))
    assert uniformity_loss(f, torch.tensor([0, 0, 0])) == 0
    protos = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert torch.allclose(compactness_loss(torch.tensor([[3.0, 0.0], [1.0, 0.0]]), protos), torch.tensor(1.0))
    feats = [torch.randn(4, 5, generator=g) for _ in range(2)]
    text = torch.randn(2, 5, generator=g)
    y = torch.tensor([0, 1, 1, -1])
    want = torch.stack([F.cross_entropy(F.normalize(x[:3], dim=1) @ F.normalize(text, dim=1).t() / 0.07, y[:3])
                        for x in feats]).mean()
    assert torch.allclose(alignment_loss(feats, text, y), want)


# --------------------------------------------------------------------------- VSPF


def _tiny_model():
    from lifelong_reid.models import build_model

    torch.manual_seed(0)
    return build_model(tiny_config())


def test_vspf_starts_as_the_identity_and_its_gates_learn():
    model = _tiny_model().eval()
    images = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        before = model(images)["feat"]
    plugin = FIRMPlugin(FIRMConfig())
    attach_plugin(model, plugin)
    vspf = model.visual.firm_vspf
    assert vspf.layers == [1, 2, 3] and vspf.deep_from == 2 and vspf.part_text.shape == (4, 128)
    with torch.no_grad():
        assert torch.allclose(model(images)["feat"], before, atol=1e-5)  # tanh(0) = 0: nothing injected
    model.train()
    out = model(images)
    assert len(out["records"]["firm_layer_cls"]) == 3 and out["records"]["firm_layer_cls"][0].shape == (2, 128)
    out["feat"].pow(2).sum().backward()
    assert vspf.gate.grad is not None and vspf.gate.grad.abs().sum() > 0
    with torch.no_grad():
        vspf.gate.fill_(0.5)
        model.eval()
        assert not torch.allclose(model(images)["feat"], before, atol=1e-3)


def test_part_sentences_come_from_a_file_and_bad_files_are_named(tmp_path):
    good = tmp_path / "parts.txt"
    good.write_text("# LLM answers\na red backpack.\n\nlong dark hair.\n")
    assert read_sentences(good) == ["a red backpack.", "long dark hair."]
    (tmp_path / "parts.json").write_text('["a cap.", "white shoes."]')
    assert read_sentences(tmp_path / "parts.json") == ["a cap.", "white shoes."]
    with pytest.raises(ConfigError, match="does not exist"):
        read_sentences(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(ConfigError, match="no sentence"):
        read_sentences(tmp_path / "empty.txt")
    plugin = FIRMPlugin(FIRMConfig(vspf_sentences=str(good)))
    model = _tiny_model()
    attach_plugin(model, plugin)
    assert model.visual.firm_vspf.part_text.shape == (2, 128)


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="matching"):
        FIRMConfig(matching="greedy")
    with pytest.raises(ConfigError, match="eps"):
        FIRMConfig(eps=0.0)
    with pytest.raises(ConfigError, match="sub_centres"):
        FIRMConfig(sub_centres=0)


# --------------------------------------------------------------------------- the plugin end to end

SMALL = dict(min_samples=2, k1=4, k2=2, eps=0.7)


def _train(settings, epochs=2, **config):
    from lifelong_reid.models import build_model
    from lifelong_reid.plugin_manager import get_plugin_manager, register
    from lifelong_reid.strategy import ReIDStrategy

    torch.manual_seed(0)
    cfg = tiny_config(epochs=epochs, batch_p=4, batch_k=3, **config)
    plugin = FIRMPlugin(FIRMConfig(**{**SMALL, **settings}))
    pm = get_plugin_manager()
    register(pm, plugin)
    strategy = ReIDStrategy(model=build_model(cfg), config=cfg, pm=pm, progress=False)
    bench = stream_of_kind("vi-unsupervised", cfg)
    return plugin, strategy, bench


def test_the_plugin_labels_trains_and_updates_its_memories():
    plugin, strategy, bench = _train({})
    exp = bench.train_stream[0]
    assert set(exp.dataset.targets) == {-1}
    strategy.train(exp)
    assert len(plugin.history) == 2 and plugin.history[0]["epoch"] == 1
    row = plugin.history[-1]
    assert row["visible_clusters"] >= 1 and row["infrared_clusters"] >= 1 and 0 <= row["joint_purity"] <= 1
    t = strategy.targets
    assert len(t) == len(exp.dataset) and int(t.max()) + 1 == plugin.num_joint
    # a sample's joint target is its visible cluster, or its infrared cluster's match
    ir = (plugin.sample_modality == 1) & (plugin.modal_labels >= 0)
    vis = (plugin.sample_modality == 0) & (plugin.modal_labels >= 0)
    assert torch.equal(t[vis], plugin.modal_labels[vis])
    assert (t[ir] >= 0).all()
    assert {"firm_intra", "firm_cross", "firm_align", "firm_uniform", "firm_compact"} <= set(strategy.loss_terms)
    assert "id" not in strategy.loss_terms and "triplet" not in strategy.loss_terms
    assert plugin.memories[0].prototypes.shape[:2] == (row["visible_clusters"], 2)
    assert strategy.model.firm_prompts.num_classes == plugin.num_joint
    assert strategy.model.visual.firm_vspf.bank.shape[0] == plugin.num_joint


def test_memories_move_after_each_optimizer_step():
    plugin, strategy, bench = _train({"vspf": False}, epochs=1)
    snapshots = []

    class Spy:
        from lifelong_reid import hookimpl

        @hookimpl(tryfirst=True)
        def lreid_after_optimizer_step(self, strategy):
            snapshots.append(plugin.memories[0].prototypes.clone())

    strategy.pm.register(Spy())
    strategy.train(bench.train_stream[0])
    assert len(snapshots) >= 2 and not torch.equal(snapshots[0], snapshots[1])


def test_ablation_switches_change_what_they_name():
    plugin, strategy, bench = _train({"matching": "hungarian", "ot_weighted": False, "vspf": False}, epochs=1)
    strategy.train(bench.train_stream[0])
    row = plugin.history[0]
    assert row["matched"] == min(row["visible_clusters"], row["infrared_clusters"])  # Hungarian matches all
    assert set(plugin.targets_i.unique().tolist()) <= {0.0, 1.0}  # one-hot targets
    assert not hasattr(strategy.model.visual, "firm_vspf") and "firm_align" not in strategy.loss_terms
    plugin, strategy, bench = _train({"carry_over": False, "vspf": False}, epochs=2)
    strategy.train(bench.train_stream[0])
    assert len(plugin.history) == 2


def test_a_plugin_needs_both_modalities_and_clusters():
    plugin, strategy, bench = _train({"eps": 0.01, "min_samples": 50})
    with pytest.raises(ConfigError, match="no visible cluster"):
        strategy.train(bench.train_stream[0])


# --------------------------------------------------------------------------- data and evaluation


def test_channel_exchange_replaces_the_colours():
    from PIL import Image

    from lifelong_reid.data.transforms import ChannelExchange, build_transforms

    rgb = torch.rand(3, 8, 4)
    torch.manual_seed(0)
    seen = set()
    for _ in range(40):
        out = ChannelExchange(1.0)(__import__("torchvision").tv_tensors.Image(rgb))
        assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])
        for c in range(3):
            if torch.equal(out[0], rgb[c]):
                seen.add(c)
        if torch.allclose(out[0], 0.2989 * rgb[0] + 0.5870 * rgb[1] + 0.1140 * rgb[2]):
            seen.add("grey")
    assert seen == {0, 1, 2, "grey"}
    assert torch.equal(ChannelExchange(0.0)(rgb), rgb)
    with pytest.raises(ConfigError, match="channel_exchange"):
        build_transforms((8, 4), channel_exchange=2.0)
    grey = Image.fromarray(np.full((8, 4, 3), 77, dtype=np.uint8))
    a = build_transforms((8, 4), channel_exchange=1.0, flip=0, pad=0)[0](grey)
    b = build_transforms((8, 4), flip=0, pad=0)[0](grey)
    assert torch.equal(a, b)  # an infrared crop (equal channels) is unchanged


def test_the_visible_infrared_protocols_report_both_directions_and_indoor():
    from lifelong_reid.evaluation import ReIDEvaluator, evaluate_features, evaluate_sysu_mm01

    g = torch.Generator().manual_seed(0)
    vf, tf = torch.randn(12, 6, generator=g), torch.randn(12, 6, generator=g)
    pids = torch.arange(6).repeat(2)
    ev = ReIDEvaluator(protocol="regdb")
    ev.process(vf, pids, torch.ones(12, dtype=torch.long), "query")
    ev.process(tf, pids, torch.full((12,), 2), "gallery")
    out = ev.evaluate()
    assert out["mAP"] == evaluate_features(vf, tf, pids, pids, torch.ones(12), torch.full((12,), 2),
                                           protocol="regdb")["mAP"]
    assert out["reverse"]["mAP"] == evaluate_features(tf, vf, pids, pids, torch.full((12,), 2), torch.ones(12),
                                                      protocol="regdb")["mAP"]
    qc = torch.tensor([3, 6] * 6)
    gc = torch.tensor([1, 2, 4, 5] * 3)
    ev = ReIDEvaluator(protocol="sysu_mm01", trials=2)
    ev.process(tf, pids, qc, "query")
    ev.process(vf, pids, gc, "gallery")
    out = ev.evaluate()
    indoor = evaluate_sysu_mm01(tf, vf, pids, pids, qc, gc, mode="indoor", trials=range(2))
    assert out["indoor"]["mAP"] == indoor["mAP"] and "reverse" not in out


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize("name, dataset", [("firm_sysu.py", "sysu-mm01"), ("firm_regdb.py", "regdb"),
                                           ("firm_llcm.py", "llcm")])
def test_the_examples_stop_before_training_with_the_check_report(tmp_path, name, dataset):
    from click.testing import CliRunner

    from lifelong_reid.cli import main

    r = CliRunner().invoke(main, ["run", str(EXAMPLES / name), "--data-root", str(tmp_path), "--output",
                                  str(tmp_path / "out")])
    assert r.exit_code == 2, r.output
    assert f"stream unsupervised:{dataset}: NOT ready" in r.output


def test_the_recipe_and_the_synthetic_variant(monkeypatch, tmp_path):
    from lifelong_reid.experiment import load_experiment, resolve_config

    real = resolve_config(load_experiment(EXAMPLES / "firm_sysu.py"))
    assert (real.model, real.lr, real.image_size, real.batch_p, real.batch_k, real.epochs) == \
        ("ViT-B-16", 5e-6, [288, 144], 16, 16, 50)
    assert real.plugins == {"firm": {}} and (real.id_weight, real.triplet_weight) == (0.0, 0.0)
    weights = tmp_path / "w.pt"
    monkeypatch.setattr("lifelong_reid.synthetic.pretrain.synthetic_clip_weights", lambda *a, **k: weights)
    module = load_experiment(EXAMPLES / "firm_regdb.py")
    cfg = resolve_config(module, synthetic=True)
    assert (cfg.model, cfg.device, cfg.weights) == ("lreid-tiny-vit", "cpu", str(weights))
    assert cfg.plugins["firm"] == {"k1": 5, "k2": 2, "min_samples": 3}
    b = module.stream(cfg)
    assert b.name == "synthetic-vi-unsupervised" and set(b.train_stream[0].dataset.targets) == {-1}


def test_the_report_lists_the_second_reading_of_a_visible_infrared_domain(tmp_path):
    from lifelong_reid.evaluation.report import write_report

    one = {"mAP": 40.0, "rank1": 50.0, "rank5": 60.0, "rank10": 70.0, "mINP": 10.0}
    results = {"experiment": "x", "stream": "s", "seed": 0,
               "matrix": {"rows": ["initial"], "cols": ["vi"], "mAP": [[40.0]], "rank1": [[50.0]]},
               "per_domain": {"vi": {**one, "reverse": {**one, "mAP": 33.0}}, "market": dict(one)}}
    text = write_report(results, tmp_path).read_text()
    assert "| vi | 40.00 | 50.00 | 60.00 | 70.00 | 10.00 |" in text
    assert "| vi (reverse) | 33.00 | 50.00 |" in text and "market (reverse)" not in text
