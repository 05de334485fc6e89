"""Multi-modal tuple features and the missing-modality evaluation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lifelong_reid.evaluation import evaluate_features
from lifelong_reid.evaluation.multimodal import (evaluate_missing_modalities, feature_level_embed, fuse,
                                                 missing_modality_settings, setting_name)


def test_settings_are_every_proper_subset_with_the_papers_names():
    settings = missing_modality_settings()
    assert settings == [("rgb",), ("nir",), ("tir",), ("rgb", "nir"), ("rgb", "tir"), ("nir", "tir")]
    assert [setting_name(s) for s in settings[:4]] == ["M (RGB)", "M (NIR)", "M (TIR)", "M (RGB+NIR)"]
    assert setting_name(()) == "all"


def test_fuse_normalises_concatenates_and_zeroes_dropped_modalities():
    feats = {"rgb": torch.tensor([[3.0, 4.0]]), "nir": torch.tensor([[0.0, 2.0]]), "tir": torch.tensor([[1.0, 0.0]])}
    assert fuse(feats)[0].tolist() == pytest.approx([0.6, 0.8, 0.0, 1.0, 1.0, 0.0])
    assert fuse(feats, dropped=("nir",))[0].tolist() == pytest.approx([0.6, 0.8, 0.0, 0.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="at least one"):
        fuse(feats, dropped=("rgb", "nir", "tir"))
    with pytest.raises(ValueError, match=r"\['tir'\] are missing"):
        fuse({"rgb": feats["rgb"], "nir": feats["nir"]})


def test_dropping_the_informative_modality_costs_accuracy():
    rng = np.random.default_rng(0)
    pids = np.repeat(np.arange(10), 4)
    cams = np.tile([1, 2, 3, 4], 10)
    centres = rng.normal(size=(10, 16))

    def side(idx):
        return {"rgb": centres[pids[idx]] + 0.3 * rng.normal(size=(len(idx), 16)),  # identity shows in RGB only
                "nir": rng.normal(size=(len(idx), 16)), "tir": rng.normal(size=(len(idx), 16))}

    q, g = np.arange(0, 40, 4), np.setdiff1d(np.arange(40), np.arange(0, 40, 4))
    qs, gs = side(q), side(g)
    res = evaluate_missing_modalities(feature_level_embed(qs, gs), pids[q], pids[g], cams[q], cams[g])
    assert list(res) == ["all", "M (RGB)", "M (NIR)", "M (TIR)", "M (RGB+NIR)", "M (RGB+TIR)", "M (NIR+TIR)"]
    assert res["M (NIR+TIR)"]["mAP"] > res["all"]["mAP"] > res["M (RGB)"]["mAP"]
    assert res["M (NIR+TIR)"] == evaluate_features(qs["rgb"], gs["rgb"], pids[q], pids[g], cams[q], cams[g])
