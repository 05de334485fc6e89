"""``lreid caption`` with a tiny, randomly initialised BLIP saved to disk (no download): one caption per
image, per-part answers, the JSON plugins read, and a clear error for a model that cannot be loaded."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from PIL import Image

from lifelong_reid.cli import main
from lifelong_reid.data.side_info import load_captions

transformers = pytest.importorskip("transformers")

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "picture", "of", "the", "head", "person", "with", "whose",
         "upper", "lower", "body", "wears", "feet", "wear", "red", "blue", "shirt", "jeans", "hat", "shoes"]


@pytest.fixture(scope="module")
def tiny_blip(tmp_path_factory):
    from transformers import (BertTokenizerFast, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor,
                              BlipProcessor)

    folder = tmp_path_factory.mktemp("blip")
    (folder / "vocab.txt").write_text("\n".join(VOCAB))
    tok = BertTokenizerFast(str(folder / "vocab.txt"))
    tok.add_special_tokens({"bos_token": "[DEC]"})
    processor = BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok)
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                bos_token_id=tok.bos_token_id, pad_token_id=tok.pad_token_id, sep_token_id=tok.sep_token_id,
                eos_token_id=tok.sep_token_id)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32,
                  patch_size=16)
    model = BlipForConditionalGeneration(BlipConfig(vision_config=vision, text_config=text))
    model.save_pretrained(folder / "model")
    processor.save_pretrained(folder / "model")
    return folder / "model"


def test_caption_command_writes_one_per_part_caption_per_image(tmp_path, tiny_blip):
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg", "sub/c.png"):
        Image.new("RGB", (64, 128), (200, 30, 30)).save(images / name)
    out = tmp_path / "captions.json"
    r = CliRunner().invoke(main, ["caption", str(images), "--output", str(out), "--model", str(tiny_blip),
                                  "--max-new-tokens", "3", "--batch-size", "2"])
    assert r.exit_code == 0, r.output
    table = load_captions(out)
    assert sorted(table) == ["a.jpg", "b.jpg", "sub/c.png"]
    assert all(c.startswith("head:") and "; upper body:" in c and "; feet:" in c for c in table.values())
    r = CliRunner().invoke(main, ["caption", str(images), "--output", str(tmp_path / "plain.json"), "--model",
                                  str(tiny_blip), "--no-parts", "--max-new-tokens", "3"])
    assert r.exit_code == 0 and "head:" not in json.loads((tmp_path / "plain.json").read_text())["a.jpg"]


def test_unloadable_model_is_a_one_line_error(tmp_path):
    (tmp_path / "img").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "img" / "x.jpg")
    r = CliRunner().invoke(main, ["caption", str(tmp_path / "img"), "--output", str(tmp_path / "c.json"), "--model",
                                  str(tmp_path / "no-such-model")])
    assert r.exit_code == 2 and "cannot load BLIP" in r.output and "Traceback" not in r.output
