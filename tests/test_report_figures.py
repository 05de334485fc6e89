"""What the report draws: CMC curves, worst queries, ranked lists (protocol removals applied), figures."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lifelong_reid.evaluation.plots import CORRECT, WRONG, plot_ranked_lists
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
