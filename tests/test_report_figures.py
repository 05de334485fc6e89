"""What the report draws: CMC curves, worst queries, ranked lists (protocol removals applied), figures."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lifelong_reid.evaluation.lifelong import AccuracyMatrix
from lifelong_reid.evaluation.plots import (CORRECT, WRONG, _fit, colour_range, fitted_title, plot_matrix,
                                           plot_ranked_lists, sample_label)
from lifelong_reid.evaluation.report import write_report
from lifelong_reid.evaluation.ranked_lists import cmc_curve, ranked_lists, worst_queries


def line(xs):
    return np.stack([np.asarray(xs, float), np.zeros(len(xs))], axis=1)


def case():
    # query 0 (pid 1, cam 0) at 0; gallery by distance: same pid same cam (removed), pid 2, pid 1 (cam 1), junk
    qf, qp, qc = line([0.0, 5.0]), np.array([1, 2]), np.array([0, 0])
    gf = line([0.1, 0.2, 0.3, 0.4, 5.1])
    gp, gc = np.array([1, 2, 1, -1, 2]), np.array([0, 1, 1, 1, 1])
    return qf, gf, qp, gp, qc, gc


def test_cmc_curve_is_cumulative_and_capped_at_the_gallery_size():
    c = cmc_curve(*case(), metric="euclidean", max_rank=50)
    assert c["ranks"] == [1, 2, 3, 4, 5]
    # query 0: first match at rank 2; query 1: rank 1
    assert c["cmc"] == [50.0, 100.0, 100.0, 100.0, 100.0]
    # query 1 ranks pid 2 (match), pid 1, pid 2 (match), pid 1: AP (1 + 2/3) / 2
    assert c["metrics"]["per_query"]["AP"].tolist() == pytest.approx([50.0, 100 * (1 + 2 / 3) / 2])


def test_worst_queries_skip_invalid_ones_and_break_ties_by_index():
    assert worst_queries([50.0, np.nan, 10.0, 50.0], 3) == [2, 0, 3]


def test_ranked_lists_apply_the_protocol_and_mark_matches():
    lists = ranked_lists(*case(), [0], metric="euclidean", top=3)
    assert lists[0].gallery == [1, 2, 4]  # same-camera match and junk are not listed
    assert lists[0].correct == [False, True, False]
    assert lists[0].distances == pytest.approx([0.04, 0.09, 26.01])


def test_ranked_list_figure_has_a_frame_per_result(tmp_path):
    lists = ranked_lists(*case(), [0, 1], metric="euclidean", top=2)
    img = Image.new("RGB", (32, 64), (120, 120, 120))
    path = plot_ranked_lists(lists, lambda i: img, lambda j: img, tmp_path / "r.png", title="t")
    with Image.open(path) as im:
        pixels = set(im.convert("RGB").getdata())
    rgb = lambda h: tuple(int(h[i:i + 2], 16) for i in (1, 3, 5))  # noqa: E731
    assert rgb(CORRECT) in pixels and rgb(WRONG) in pixels


def test_ranked_list_labels_name_identity_camera_and_file(tmp_path):
    lists = ranked_lists(*case(), [0], metric="euclidean", top=3)
    img = Image.new("RGB", (32, 64), (120, 120, 120))
    asked = []

    def label(j):
        asked.append(j)
        return sample_label(7, 2, f"/data/market/bounding_box_test/000{j}_c2s1_000151_01.jpg")

    small = plot_ranked_lists(lists, lambda i: img, lambda j: img, tmp_path / "a.png")
    labelled = plot_ranked_lists(lists, lambda i: img, lambda j: img, tmp_path / "b.png",
                                 query_label=lambda i: sample_label(1, 0, "q.jpg"), gallery_label=label)
    assert asked == lists[0].gallery  # every listed image is labelled
    with Image.open(small) as a, Image.open(labelled) as b:
        assert b.size[1] == a.size[1] + 36  # three more label lines of 12 px
    assert sample_label(7, 2, "/x/y/0007_c2.jpg") == ["id 7 cam 2", "0007_c2.jpg"]
    # a 76-px label holds 12 characters a line: a Market file name fits on two lines, a longer one keeps its end
    assert _fit("0001_c2s1_000151_01.jpg", 76, rows=2) == ["0001_c2s1_00", "0151_01.jpg"]
    assert _fit("camera_7/0001_c2s1_000151_01.jpg", 76, rows=2) == ["...01_c2s1_0", "00151_01.jpg"]
    assert _fit("short.jpg", 76) == ["short.jpg"]


def test_heat_map_scale_fits_the_values():
    assert colour_range([[3.0, 12.0], [4.0, 11.0]]) == (2.5, 12.5)  # a weak model: not 0-100
    assert colour_range([[85.0, 99.0]]) == (85.0, 99.0)
    assert colour_range([[0.5, 2.0]]) == (0.0, 10.0)  # at least 10 points, inside 0..100
    assert colour_range([[98.0, 99.5]]) == (90.0, 100.0)
    title = fitted_title("mAP (%) — lifelong:" + "+".join(f"domain-number-{i}" for i in range(12)), 4.0)
    assert "\n" in title and max(len(t) for t in title.split("\n")) <= int(4.0 * 72 / 6)


def test_heat_map_colours_spread_over_a_weak_models_values(tmp_path):
    results = {"stream": "s", "matrix": {"rows": ["initial", "after:a"], "cols": ["a", "b"],
                                         "mAP": [[3.0, 4.0], [12.0, 5.0]]}}
    with Image.open(plot_matrix(results, "mAP", tmp_path / "m.png")) as im:
        colours = set(im.convert("RGB").getdata())
    # viridis' bright yellow end is used by the best cell (12.0) once the scale fits the values
    assert any(r > 200 and g > 200 and b < 80 for r, g, b in colours)


def test_terminal_matrix_columns_align_with_long_domain_names():
    m = AccuracyMatrix(["market1501", "synth-unseen-domain-1", "d"], ["market1501"], ["synth-unseen-domain-1", "d"])
    m.add_row("initial", {c: {"mAP": 1.5, "rank1": 2.0} for c in m.cols})
    m.add_row("after:market1501", {c: {"mAP": 100.0, "rank1": 50.25} for c in m.cols})
    lines = m.format("mAP").splitlines()[1:]
    table = [lines[0]] + lines[2:]
    assert len({len(t) for t in table}) == 1  # every row as wide as the header
    bars = [[i for i, ch in enumerate(t) if ch == "|"] for t in table]
    assert all(b == bars[0] for b in bars)


def _results(setting, seen, unseen):
    cols = seen + unseen
    return {"experiment": "e", "stream": "dg:a->b", "seed": 0, "setting": setting,
            "matrix": {"rows": ["initial", "after:a"], "cols": cols, "mAP": [[1.0] * len(cols)] * 2,
                       "rank1": [[2.0] * len(cols)] * 2},
            "final": {"seen": {"mAP": 1.0, "rank1": 2.0}, "unseen": {"mAP": 1.0, "rank1": 2.0}},
            "lifelong": {"forgetting": {"mAP": {"mean": None}}, "bwt": {"mAP": None}},
            "per_domain": {c: {"mAP": 1.0, "rank1": 2.0, "rank5": 3.0, "rank10": 4.0, "mINP": 0.5} for c in cols}}


def test_a_one_experience_report_labels_sources_and_targets(tmp_path):
    dg = write_report(_results("single", ["a"], ["b"]), tmp_path).read_text()
    assert "source domains (trained on)" in dg and "target domains (unseen: generalization)" in dg
    assert "anti-forgetting" not in dg and "Forgetting" not in dg and "## mAP before and after training" in dg
    life = write_report(_results("lifelong", ["a"], ["b"]), tmp_path).read_text()
    assert "seen (anti-forgetting)" in life and "## mAP after each experience" in life
