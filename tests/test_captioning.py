"""``lreid caption`` with a tiny, randomly initialised BLIP saved to disk (no download): one caption per
image, per-part answers, the JSON plugins read, and a clear error for a model that cannot be loaded."""
from __future__ import annotations

import json

import pytest
import torch
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


BLIP2_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "question", "answer", ":", "what", "is", "the", "person",
               "red", "blue", "male", "none", "long", "?", ".", "color", "hair"]


@pytest.fixture(scope="module")
def tiny_blip2(tmp_path_factory):
    """A randomly initialised BLIP-2 (OPT language model) of a few thousand weights, saved like a real one."""
    from transformers import (BertTokenizerFast, Blip2Config, Blip2ForConditionalGeneration, Blip2Processor,
                              BlipImageProcessor, OPTConfig)

    folder = tmp_path_factory.mktemp("blip2")
    (folder / "vocab.txt").write_text("\n".join(BLIP2_VOCAB))
    tok = BertTokenizerFast(str(folder / "vocab.txt"))
    tok.add_special_tokens({"bos_token": "[CLS]", "eos_token": "[SEP]"})
    tok.add_tokens(["<image>"], special_tokens=True)
    tok.image_token = "<image>"
    processor = Blip2Processor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok,
                               num_query_tokens=4)
    text = OPTConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, ffn_dim=64, num_attention_heads=2,
                     word_embed_proj_dim=32, max_position_embeddings=64, pad_token_id=tok.pad_token_id,
                     bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    config = Blip2Config(vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                            num_attention_heads=2, image_size=32, patch_size=16),
                         qformer_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                             intermediate_size=64, encoder_hidden_size=32, vocab_size=len(tok)),
                         text_config=text.to_dict(), num_query_tokens=4,
                         image_token_index=tok.convert_tokens_to_ids("<image>"))
    Blip2ForConditionalGeneration(config).save_pretrained(folder / "model")
    processor.save_pretrained(folder / "model")
    return folder / "model"


def test_vladr_style_asks_blip2_the_releases_questions_and_fills_its_templates(tmp_path, tiny_blip2):
    from lifelong_reid.captioning import VLADR_QUESTIONS, load_blip2, vladr_part_captions

    images = tmp_path / "images"
    images.mkdir()
    for name in ("0001_c1s1_000151_01.jpg", "0002_c2s1_000301_01.jpg"):
        Image.new("RGB", (64, 128), (200, 30, 30)).save(images / name)
    out = tmp_path / "parts.json"
    r = CliRunner().invoke(main, ["caption", str(images), "--output", str(out), "--model", str(tiny_blip2),
                                  "--style", "vladr", "--batch-size", "2"])
    assert r.exit_code == 0, r.output
    table = load_captions(out)  # the per-part captions format
    assert sorted(table) == ["0001_c1s1_000151_01.jpg", "0002_c2s1_000301_01.jpg"]
    for parts in table.values():
        assert list(parts) == ["head", "upper", "lower", "foot"]
        assert parts["head"].startswith("A ") and " hair, wearing " in parts["head"] and parts["head"].endswith(".")
        assert all(parts[p].startswith("Wearing ") for p in ("upper", "lower", "foot"))
    # the answers fill the templates, lowercased, without the question: a model that always answers "Red Hair"
    processor, model = load_blip2(str(tiny_blip2))
    asked = []
    red = processor.tokenizer.convert_tokens_to_ids(["red", "hair"])

    def generate(**inputs):
        asked.append(processor.tokenizer.decode(inputs["input_ids"][0], skip_special_tokens=True))
        ids = inputs["input_ids"]
        return torch.cat([ids, torch.tensor([red] * len(ids))], dim=1)  # the prompt, then the answer

    model.generate = generate
    (parts,) = vladr_part_captions([images / "0001_c1s1_000151_01.jpg"], processor, model)
    assert len(asked) == sum(len(q) for q in VLADR_QUESTIONS.values()) == 11
    assert parts == {"head": "A red hair with red hair, red hair hair, wearing red hair.",
                     "upper": "Wearing red hair red hair, red hair", "lower": "Wearing red hair red hair",
                     "foot": "Wearing red hair red hair"}
