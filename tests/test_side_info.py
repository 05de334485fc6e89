"""Side information: captions and part-box JSON files (validated), identity attributes from the
Market-1501_Attribute .mat file, attached to samples; missing files are the plugin's error."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lifelong_reid.data import read_market1501
from lifelong_reid.data.sample import DomainData, Sample
from lifelong_reid.data.side_info import (attach_side_info, attributes_sentence, load_captions, read_blip_descriptions,
                                          load_identity_attributes, load_part_boxes, require_side_file)
from lifelong_reid.errors import ConfigError, ManifestError


def domain(tmp_path):
    root = tmp_path / "ds"
    s = [Sample(str(root / "query" / "0001_c1.jpg"), 1, 0, "ds"), Sample(str(root / "query" / "0002_c1.jpg"), 2, 0, "ds")]
    return DomainData(name="ds", query=s, root=str(root))


def test_captions_match_by_path_relative_path_or_file_name(tmp_path):
    f = tmp_path / "captions.json"
    f.write_text(json.dumps({"query/0001_c1.jpg": "a man in red", "0002_c1.jpg": "a woman in blue"}))
    d = attach_side_info(domain(tmp_path), captions=load_captions(f))
    assert [s.caption for s in d.query] == ["a man in red", "a woman in blue"]


def test_side_files_written_for_any_folder_above_the_images_match(tmp_path):
    # `lreid ground DATA/MSMT17_V1/train` keys images relative to train/: "0001/x.jpg", while the domain's root
    # is DATA/MSMT17_V1; and two images with one file name in different folders stay apart
    root = tmp_path / "MSMT17_V1"
    s = [Sample(str(root / "train" / "0001" / "a.jpg"), 1, 0, "ms"), Sample(str(root / "train" / "0002" / "a.jpg"), 2, 0, "ms")]
    d = DomainData(name="ms", train=s, root=str(root))
    d = attach_side_info(d, captions={"0001/a.jpg": "first", "0002/a.jpg": "second"})
    assert [x.caption for x in d.train] == ["first", "second"]


def test_bad_caption_files_name_the_file_and_key(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"a.jpg": ""}))
    with pytest.raises(ManifestError, match=r"c.json: caption of 'a.jpg' must be a non-empty string"):
        load_captions(f)
    f.write_text("[1, 2]")
    with pytest.raises(ManifestError, match="JSON object keyed by image path"):
        load_captions(f)


def test_part_boxes_are_validated_and_attached(tmp_path):
    f = tmp_path / "boxes.json"
    f.write_text(json.dumps({"0001_c1.jpg": {"head": [10, 0, 54, 30], "legs": [5, 70, 60, 128]}}))
    d = attach_side_info(domain(tmp_path), part_boxes=load_part_boxes(f))
    assert d.query[0].part_boxes == {"head": (10.0, 0.0, 54.0, 30.0), "legs": (5.0, 70.0, 60.0, 128.0)}
    assert d.query[1].part_boxes is None
    f.write_text(json.dumps({"x.jpg": {"feet": [0, 0, 1, 1]}}))
    with pytest.raises(ManifestError, match="unknown part 'feet'"):
        load_part_boxes(f)
    f.write_text(json.dumps({"x.jpg": {"head": [5, 5, 5, 9]}}))
    with pytest.raises(ManifestError, match="is empty"):
        load_part_boxes(f)


def test_missing_side_file_is_the_plugins_error(tmp_path):
    with pytest.raises(ConfigError, match="plugin 'vladr' needs the captions file .*nope.json, which does not exist"):
        require_side_file(tmp_path / "nope.json", "vladr", "captions", "JSON: image path -> text")
    with pytest.raises(ConfigError, match="plugin 'vladr' needs a captions file"):
        require_side_file(None, "vladr", "captions", "JSON")


def test_market_attributes_attach_to_every_market1501_mini_identity(shared_data):
    attrs = load_identity_attributes(shared_data / "attributes" / "Market-1501_Attribute" / "market_attribute.mat")
    assert len(attrs) == 1501  # 751 train + 750 test identities
    assert attrs[2]["gender"] == "male" and attrs[2]["upper_color"] == "red"
    d = attach_side_info(read_market1501(shared_data / "market1501-mini"), attributes=attrs)
    assert all(s.attributes for s in d.train + d.query)
    sentence = attributes_sentence(attrs[2])
    assert sentence.startswith("a teenager male") and "red top" in sentence


def test_attribute_file_of_another_kind_is_an_error(tmp_path):
    from scipy.io import savemat

    savemat(str(tmp_path / "x.mat"), {"other": [1]})
    with pytest.raises(ManifestError, match="market_attribute"):
        load_identity_attributes(tmp_path / "x.mat")


def test_captions_from_attributes_fill_only_missing_captions():
    from lifelong_reid.data.side_info import captions_from_attributes

    s1 = Sample("a.jpg", 1, 0, "d", attributes={"gender": "female", "hair": "long"})
    s2 = Sample("b.jpg", 2, 0, "d", caption="kept", attributes={"gender": "male"})
    s3 = Sample("c.jpg", 3, 0, "d")
    d = captions_from_attributes(DomainData(name="d", train=[s1, s2, s3]))
    assert [s.caption for s in d.train] == ["a female, with long hair", "kept", None]


RELEASED = ("0002_c1s1_000451_03.jpg\t\t\tA male with red, not long hair, wearing a hat.\t\t\tWearing red a red shirt, "
            "the person is riding a skateboard\t\t\tWearing red a red shirt\t\t\tWearing red sneakers\n"
            "0007_c2s3_070952_01.jpg\t\t\tA male with gray hair.\t\t\tWearing white a backpack\t\t\tWearing black a "
            "backpack\t\t\tWearing black sneakers\n")


def test_released_vladr_description_files_are_read_as_part_captions(tmp_path):
    path = tmp_path / "market1501_description.txt"
    path.write_text(RELEASED)
    table = load_captions(path)  # a .txt is read as the release's format
    assert table == read_blip_descriptions(path)
    assert list(table["0002_c1s1_000451_03.jpg"]) == ["head", "upper", "lower", "foot"]
    assert table["0007_c2s3_070952_01.jpg"]["foot"] == "Wearing black sneakers"
    bad = tmp_path / "bad_description.txt"
    bad.write_text(RELEASED + "0011_c1s6_027271_01.jpg\t\t\tonly a head\n")
    with pytest.raises(ManifestError, match=r"bad_description.txt:3: expected an image name and 4 part"):
        read_blip_descriptions(bad)


def test_part_captions_are_kept_per_part_and_joined_as_the_caption(tmp_path):
    d = DomainData("d", train=[Sample("/data/x/0002_c1s1_000451_03.jpg", 2, 0, "d"),
                               Sample("/data/x/0003_c1s1_000001_01.jpg", 3, 0, "d")], query=[], gallery=[],
                   root="/data/x")
    captions = tmp_path / "parts.json"
    captions.write_text(json.dumps({"0002_c1s1_000451_03.jpg": {"head": "a hat.", "upper": "a red shirt.",
                                                                "lower": "blue shorts.", "foot": "sneakers."},
                                    "0003_c1s1_000001_01.jpg": "a plain caption."}))
    out = attach_side_info(d, captions=load_captions(captions))
    first, second = out.train
    assert first.caption_parts == {"head": "a hat.", "upper": "a red shirt.", "lower": "blue shorts.",
                                   "foot": "sneakers."}
    assert first.caption == "a hat. a red shirt. blue shorts. sneakers."
    assert second.caption == "a plain caption." and second.caption_parts is None
    captions.write_text(json.dumps({"0002_c1s1_000451_03.jpg": {"head": ""}}))
    with pytest.raises(ManifestError, match="non-empty string or an object of non-empty part strings"):
        load_captions(captions)


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.skipif(not (SHARED / "captions" / "market1501-mini" / "blip2_parts.json").is_file(),
                    reason="../shared/data is not on this machine")
def test_the_released_blip2_parts_cover_every_market1501_mini_training_image():
    market = read_market1501(SHARED / "market1501-mini")
    out = attach_side_info(market, captions=load_captions(SHARED / "captions" / "market1501-mini" / "blip2_parts.json"))
    assert len(out.train) == 2882 and all(s.caption_parts and len(s.caption_parts) == 4 for s in out.train)
    assert list(out.train[0].caption_parts) == ["head", "upper", "lower", "foot"]
