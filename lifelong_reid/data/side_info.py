"""Side information that plugins consume, loaded from files next to the data and validated.

Formats:

- captions (e.g. BLIP output): a JSON object ``{"IMAGE": "text", ...}``, or with per-part captions
  ``{"IMAGE": {"head": "text", "upper": "text", "lower": "text", "foot": "text"}, ...}`` (kept as
  ``Sample.caption_parts``, joined as ``Sample.caption``); the VLADR release's ``*_description.txt`` files
  are read as such directly (:func:`read_blip_descriptions`);
- part boxes (e.g. a grounding model's output): ``{"IMAGE": {"head": [x0, y0, x1, y1], "upper": [...],
  "legs": [...]}, ...}`` in pixels of the stored image (any subset of the parts);
- part masks (e.g. a human-parsing model's output): a folder of label images (PNG, 0 background, ``k`` the
  ``k``-th part of ``head, upper, legs``) named like the images (:func:`load_part_masks`);
- identity attributes: ``market_attribute.mat`` (Market-1501_Attribute, Lin et al., arXiv:1703.07220) or
  ``duke_attribute.mat`` (DukeMTMC-attribute), one record per identity.

``IMAGE`` keys may be the sample's path, its path relative to the dataset root, or its file name.
:func:`attach_side_info` returns the domain with captions, part boxes and attributes set on its samples;
entries that name no image of the domain are counted in the domain's ``warnings`` (a run prints them before
training). A part box is clipped to its image when the image is loaded (:func:`clip_box`); one wholly outside
the image counts as no box for that part; a run counts both before training.
A side file is needed only by the plugin that uses it: :func:`require_side_file` raises a
:class:`~lifelong_reid.errors.ConfigError` naming the file, the plugin and the format.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Optional

from lifelong_reid.data.sample import CAPTION_PARTS, DomainData
from lifelong_reid.errors import ConfigError, ManifestError

PARTS = ("head", "upper", "legs")

# Market-1501_Attribute codes (1 / 2): binary attributes are no / yes.
_MARKET_BINARY = {"backpack": "backpack", "bag": "bag", "handbag": "handbag", "hat": "hat"}
_MARKET_CHOICES = {
    "age": {1: "young", 2: "teenager", 3: "adult", 4: "old"},
    "gender": {1: "male", 2: "female"},
    "hair": {1: "short", 2: "long"},
    "up": {1: "long", 2: "short"},  # sleeve length
    "down": {1: "long", 2: "short"},  # lower-body clothing length
    "clothes": {1: "dress", 2: "pants"},
}
_DUKE_BINARY = {"backpack": "backpack", "bag": "bag", "handbag": "handbag", "hat": "hat", "boots": "boots"}
_DUKE_CHOICES = {"gender": {1: "male", 2: "female"}, "top": {1: "short", 2: "long"},
                 "shoes": {1: "dark", 2: "light"}}


def require_side_file(path: Optional[str | os.PathLike], plugin: str, what: str, fmt: str) -> Path:
    """``path`` as a :class:`Path` when the file exists.

    Raises:
        ConfigError: no path given or no such file; the message names the plugin, the file and the format.
    """
    if not path:
        raise ConfigError(f"plugin {plugin!r} needs a {what} file ({fmt}); set it in the experiment config")
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"plugin {plugin!r} needs the {what} file {p}, which does not exist ({fmt})")
    return p


def _load_json_object(path: Path, what: str) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ManifestError(f"{path}: cannot read the {what} JSON ({e})") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: the {what} file must hold a JSON object keyed by image path")
    return data


def load_captions(path: str | os.PathLike) -> dict[str, str | dict]:
    """``{image key: caption}`` from a captions JSON, or from a released VLADR description file (``.txt``,
    :func:`read_blip_descriptions`).

    A caption is a non-empty string, or per-part captions: an object ``{part: non-empty string}`` (e.g.
    ``{"head": ..., "upper": ..., "lower": ..., "foot": ...}``), kept in the file's order.

    Raises:
        ManifestError: unreadable file, not an object, or a caption that is neither (names the file and the key).
    """
    if Path(path).suffix == ".txt":
        return read_blip_descriptions(path)
    data = _load_json_object(Path(path), "captions")
    for key, text in data.items():
        parts = text.values() if isinstance(text, dict) and text else [text]
        if not all(isinstance(t, str) and t.strip() for t in parts):
            raise ManifestError(f"{path}: caption of {key!r} must be a non-empty string or an object of non-empty "
                                f"part strings, got {text!r}")
    return data


def read_blip_descriptions(path: str | os.PathLike, parts=CAPTION_PARTS) -> dict[str, dict[str, str]]:
    """Per-part captions from a description file of the VLADR release (``_BLIP_TEXT_DESC/*_description.txt``:
    one line per training image, ``name``, then one sentence per part of ``parts``, fields separated by three
    tabs): ``{image name: {part: sentence}}``.

    Raises:
        ManifestError: unreadable file, or a line without ``1 + len(parts)`` non-empty fields (names the file and
            the line number).
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path}: cannot read the description file ({e})") from None
    table = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split("\t\t\t")]
        if len(fields) != 1 + len(parts) or not all(fields):
            raise ManifestError(f"{path}:{number}: expected an image name and {len(parts)} part descriptions "
                                f"({', '.join(parts)}) separated by three tabs, got {len(fields)} field(s)")
        table[fields[0]] = dict(zip(parts, fields[1:]))
    if not table:
        raise ManifestError(f"{path}: no description line")
    return table


def load_part_boxes(path: str | os.PathLike) -> dict[str, dict[str, tuple]]:
    """``{image key: {part: (x0, y0, x1, y1)}}`` from a part-boxes JSON.

    Raises:
        ManifestError: unknown part name, not four numbers, or an empty box (names the file and the key).
    """
    data = _load_json_object(Path(path), "part boxes")
    out = {}
    for key, boxes in data.items():
        if not isinstance(boxes, dict):
            raise ManifestError(f"{path}: {key!r} must map part names ({', '.join(PARTS)}) to boxes")
        parsed = {}
        for part, box in boxes.items():
            if part not in PARTS:
                raise ManifestError(f"{path}: {key!r} has unknown part {part!r}; parts are {', '.join(PARTS)}")
            if not (isinstance(box, (list, tuple)) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)):
                raise ManifestError(f"{path}: {key!r} {part} box must be [x0, y0, x1, y1], got {box!r}")
            x0, y0, x1, y1 = box
            if x1 <= x0 or y1 <= y0:
                raise ManifestError(f"{path}: {key!r} {part} box {box} is empty (need x0 < x1 and y0 < y1)")
            parsed[part] = tuple(float(v) for v in box)
        out[key] = parsed
    return out


def clip_box(box, width: int, height: int) -> Optional[tuple[float, float, float, float]]:
    """``box`` ``(x0, y0, x1, y1)`` in pixels clipped to a ``width`` x ``height`` image, or ``None`` when no
    part of it lies inside."""
    x0, y0, x1, y1 = (float(v) for v in box)
    x0, x1 = min(max(x0, 0.0), width), min(max(x1, 0.0), width)
    y0, y1 = min(max(y0, 0.0), height), min(max(y1, 0.0), height)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def count_boxes_outside(samples, sizes: dict) -> tuple[int, int]:
    """``(clipped, dropped)``: part boxes of ``samples`` that extend beyond their image (``sizes``:
    ``{path: (width, height)}``) and those wholly outside it."""
    clipped = dropped = 0
    for s in samples:
        size = sizes.get(s.image_paths()[0])
        if not s.part_boxes or size is None:
            continue
        for box in s.part_boxes.values():
            inside = clip_box(box, *size)
            if inside is None:
                dropped += 1
            elif inside != tuple(float(v) for v in box):
                clipped += 1
    return clipped, dropped


def _decode(record, binary: dict, choices: dict) -> dict:
    attrs = {}
    for field, name in binary.items():
        if field in record:
            attrs[name] = "yes" if int(record[field]) == 2 else "no"
    for field, values in choices.items():
        if field in record:
            attrs[field] = values.get(int(record[field]), str(int(record[field])))
    for prefix, name in (("up", "upper_color"), ("down", "lower_color")):
        colours = [f[len(prefix):] for f in record if f.startswith(prefix) and f not in choices and len(f) > len(prefix)
                   and int(record[f]) == 2]
        if colours:
            attrs[name] = "/".join(sorted(colours))
    return attrs


def load_identity_attributes(path: str | os.PathLike) -> dict[int, dict[str, str]]:
    """``{pid: {attribute: value}}`` from ``market_attribute.mat`` or ``duke_attribute.mat`` (train and test
    identities), decoded to words: ``gender`` male/female, ``age``, ``hair`` short/long, ``up`` / ``down``
    (sleeve / lower-body length), ``upper_color`` / ``lower_color``, ``backpack`` / ``bag`` / ``handbag`` /
    ``hat`` yes/no, ...

    Raises:
        ManifestError: unreadable file or neither ``market_attribute`` nor ``duke_attribute`` inside.
    """
    from scipy.io import loadmat

    path = Path(path)
    try:
        mat = loadmat(str(path))
    except (OSError, ValueError) as e:
        raise ManifestError(f"{path}: cannot read the attribute file ({e})") from None
    key = next((k for k in ("market_attribute", "duke_attribute") if k in mat), None)
    if key is None:
        raise ManifestError(f"{path}: expected a 'market_attribute' or 'duke_attribute' record (Market-1501_Attribute "
                            "or DukeMTMC-attribute)")
    binary, choices = (_MARKET_BINARY, _MARKET_CHOICES) if key == "market_attribute" else (_DUKE_BINARY, _DUKE_CHOICES)
    out: dict[int, dict[str, str]] = {}
    root = mat[key][0, 0]
    for split in ("train", "test"):
        table = root[split][0, 0]
        fields = [f for f in table.dtype.names if f != "image_index"]
        ids = [int(str(x[0]) if hasattr(x, "__len__") else x) for x in table["image_index"][0]]
        for i, pid in enumerate(ids):
            record = {f: table[f][0][i] for f in fields}
            out[pid] = _decode(record, binary, choices)
    return out


def attributes_sentence(attrs: dict[str, str]) -> str:
    """A plain sentence from decoded identity attributes, e.g. "a young female with long hair, wearing a
    short-sleeved red top and short blue pants, carrying a backpack"."""
    who = " ".join(x for x in (attrs.get("age"), attrs.get("gender", "person")) if x)
    parts = [f"a {who}"]
    if attrs.get("hair"):
        parts.append(f"with {attrs['hair']} hair")
    wear = []
    if attrs.get("upper_color") or attrs.get("up"):
        sleeve = {"short": "short-sleeved ", "long": "long-sleeved "}.get(attrs.get("up", ""), "")
        wear.append(f"a {sleeve}{attrs.get('upper_color', '').replace('/', ' and ')} top".replace("  ", " "))
    if attrs.get("lower_color") or attrs.get("down"):
        length = attrs.get("down", "")
        kind = "dress" if attrs.get("clothes") == "dress" else ("pants" if length != "short" else "shorts")
        wear.append(f"{attrs.get('lower_color', '').replace('/', ' and ')} {kind}".strip())
    if wear:
        parts.append("wearing " + " and ".join(wear))
    carried = [n for n in ("backpack", "bag", "handbag") if attrs.get(n) == "yes"]
    if carried:
        parts.append("carrying " + " and ".join(f"a {c}" for c in carried))
    if attrs.get("hat") == "yes":
        parts.append("with a hat")
    return ", ".join(p for p in parts if p)


def _lookup_key(table: dict, sample_path: str, root: Optional[str]) -> Optional[str]:
    """The key of a side file's entry for an image: its path, its path relative to any folder above it
    (what ``lreid caption DIR`` / ``lreid ground DIR`` write for whichever ``DIR`` was given), or its file
    name; ``None`` when there is none."""
    if sample_path in table:
        return sample_path
    if root:
        try:
            rel = os.path.relpath(sample_path, root)
        except ValueError:
            rel = None
        if rel in table:
            return rel
    parts = Path(sample_path).parts
    for k in range(1, len(parts)):  # longest suffix first: "train/0001/x.jpg", then "0001/x.jpg", then "x.jpg"
        key = "/".join(parts[k:])
        if table.get(key) is not None:
            return key
    return None


def load_part_masks(folder: str | os.PathLike) -> dict[str, str]:
    """``{image file stem: mask path}`` for every ``.png`` under ``folder`` (part label maps).

    Raises:
        ManifestError: the folder does not exist or holds no PNG.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ManifestError(f"part-mask folder {folder} does not exist (a folder of PNG label maps named like the "
                            "images: 0 background, 1 head, 2 upper, 3 legs)")
    table = {p.stem: str(p) for p in sorted(folder.rglob("*.png"))}
    if not table:
        raise ManifestError(f"part-mask folder {folder} holds no .png label map")
    return table


def attach_side_info(domain: DomainData, *, captions: Optional[dict] = None, part_boxes: Optional[dict] = None,
                     attributes: Optional[dict] = None, part_masks: Optional[dict] = None) -> DomainData:
    """A copy of ``domain`` whose samples carry the given side information (samples without an entry keep
    ``None``); ``attributes`` is keyed by pid (:func:`load_identity_attributes`), ``part_masks`` by image file
    stem (:func:`load_part_masks`). Caption and part-box entries that name no image of the domain are counted
    in the copy's ``warnings``."""
    used = {"captions": set(), "part boxes": set()}

    def find(table, what, path):
        key = _lookup_key(table, path, domain.root)
        if key is None:
            return None
        used[what].add(key)
        return table[key]

    def update(s):
        changes = {}
        if part_masks is not None and Path(s.path).stem in part_masks:
            changes["part_masks"] = part_masks[Path(s.path).stem]
        if captions is not None:
            text = find(captions, "captions", s.path)
            if isinstance(text, dict):  # per-part captions: kept, and joined as the caption
                changes["caption_parts"], changes["caption"] = dict(text), " ".join(text.values())
            elif text is not None:
                changes["caption"] = text
        if part_boxes is not None:
            boxes = find(part_boxes, "part boxes", s.path)
            if boxes is not None:
                changes["part_boxes"] = boxes
        if attributes is not None and s.pid in attributes:
            changes["attributes"] = attributes[s.pid]
        return dataclasses.replace(s, **changes) if changes else s

    out = dataclasses.replace(domain, train=[update(s) for s in domain.train], query=[update(s) for s in domain.query],
                              gallery=[update(s) for s in domain.gallery], warnings=list(domain.warnings))
    for what, table in (("captions", captions), ("part boxes", part_boxes)):
        unused = [k for k in (table or {}) if k not in used[what]]
        if unused:
            out.warnings.append(f"{len(unused)} of {len(table)} {what} entries name no image of {domain.name} "
                                f"(e.g. {unused[0]!r}); they are ignored")
    return out


def captions_from_attributes(domain: DomainData) -> DomainData:
    """A copy of ``domain`` where every sample with attributes but no caption gets
    :func:`attributes_sentence` of its attributes as caption."""
    def update(s):
        if s.caption or not s.attributes:
            return s
        return dataclasses.replace(s, caption=attributes_sentence(s.attributes))

    return dataclasses.replace(domain, train=[update(s) for s in domain.train], query=[update(s) for s in domain.query],
                               gallery=[update(s) for s in domain.gallery])
