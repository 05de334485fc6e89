"""``lreid ground`` with a tiny, randomly initialised Grounding DINO saved to disk (no download): one box per
part inside each image, the JSON MUVA reads, the phrase-token lookup, and a clear error for a model that
cannot be loaded."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from PIL import Image

from lifelong_reid.cli import main
from lifelong_reid.data.side_info import load_part_boxes
from lifelong_reid.grounding import PART_PHRASES, phrase_tokens

transformers = pytest.importorskip("transformers")

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "head", "upper", "body", "legs", "person"]


@pytest.fixture(scope="module")
def tiny_grounding(tmp_path_factory):
    from transformers import (BertConfig, BertTokenizerFast, GroundingDinoConfig, GroundingDinoForObjectDetection,
                              GroundingDinoImageProcessor, GroundingDinoProcessor, SwinConfig)

    folder = tmp_path_factory.mktemp("grounding")
    (folder / "vocab.txt").write_text("\n".join(VOCAB))
    tok = BertTokenizerFast(str(folder / "vocab.txt"))
    processor = GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 128}), tokenizer=tok)
    backbone = SwinConfig(image_size=64, patch_size=4, embed_dim=8, depths=[1, 1], num_heads=[1, 1], window_size=4,
                          out_features=["stage1", "stage2"])
    text = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=32)
    # two decoder layers: transformers cannot tie the box heads of a one-layer decoder
    cfg = GroundingDinoConfig(backbone_config=backbone, text_config=text, d_model=32, encoder_layers=1,
                              decoder_layers=2, encoder_ffn_dim=32, decoder_ffn_dim=32, encoder_attention_heads=2,
                              decoder_attention_heads=2, num_queries=10, num_feature_levels=2, encoder_n_points=2,
                              decoder_n_points=2, max_text_len=16)
    GroundingDinoForObjectDetection(cfg).save_pretrained(folder / "model")
    processor.save_pretrained(folder / "model")
    return folder / "model"


def test_phrase_tokens_find_each_part_in_the_query():
    from transformers import BertTokenizerFast

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "vocab.txt").write_text("\n".join(VOCAB))
        tok = BertTokenizerFast(str(Path(d) / "vocab.txt"))
    query = ". ".join(PART_PHRASES.values()) + "."
    spans = phrase_tokens(tok, query, PART_PHRASES)
    ids = tok(query)["input_ids"]
    assert [tok.convert_ids_to_tokens([ids[i] for i in spans[p]]) for p in ("head", "upper", "legs")] == [
        ["head"], ["upper", "body"], ["legs"]]


def test_ground_command_writes_a_box_per_part_inside_each_image(tmp_path, tiny_grounding):
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    sizes = {"a.jpg": (64, 128), "b.jpg": (50, 140), "sub/c.png": (64, 128)}
    for name, size in sizes.items():
        Image.new("RGB", size, (200, 30, 30)).save(images / name)
    out = tmp_path / "boxes.json"
    r = CliRunner().invoke(main, ["ground", str(images), "--output", str(out), "--model", str(tiny_grounding),
                                  "--box-threshold", "0", "--batch-size", "2"])
    assert r.exit_code == 0, r.output
    table = load_part_boxes(out)  # the side-file reader accepts it
    assert sorted(table) == sorted(sizes)
    for name, boxes in table.items():
        w, h = sizes[name]
        assert sorted(boxes) == ["head", "legs", "upper"]
        for x0, y0, x1, y1 in boxes.values():
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
    # a threshold above every score leaves no box, and images without boxes are left out
    r = CliRunner().invoke(main, ["ground", str(images), "--output", str(tmp_path / "none.json"), "--model",
                                  str(tiny_grounding), "--box-threshold", "1.01"])
    assert r.exit_code == 0 and "part boxes for 0 images" in r.output


def test_unloadable_grounding_model_is_a_one_line_error(tmp_path):
    (tmp_path / "img").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "img" / "x.jpg")
    r = CliRunner().invoke(main, ["ground", str(tmp_path / "img"), "--output", str(tmp_path / "b.json"), "--model",
                                  str(tmp_path / "nope")])
    assert r.exit_code == 2
    assert r.output.startswith("error: cannot load Grounding DINO") and "save_pretrained" in r.output
