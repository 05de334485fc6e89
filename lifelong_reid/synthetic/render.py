"""Drawing one synthetic person crop.

The crop is ``(H, W) = (128, 64)`` pixels, as Market-1501's. Body proportions, as fractions of the person
height ``h`` from the top of the head: head ``[0, 0.16)``, upper body ``[0.16, 0.52)``, legs
``[0.52, 1.0]`` (shoes in the last 4 %). Part boxes are returned in pixels of the crop.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from lifelong_reid.synthetic.attributes import COLORS, HAIR_COLORS, SKIN_TONES
from lifelong_reid.synthetic.domains import VIEWS, DomainStyle
from lifelong_reid.synthetic.modalities import to_modality

HEIGHT, WIDTH = 128, 64


@dataclass(frozen=True)
class View:
    """Per-image viewing parameters, drawn from the camera style."""

    view: str
    height: float  # person height in pixels
    top: float  # y of the top of the head
    center: float  # x of the body axis
    occluder: tuple | None  # (x0, y0, x1, y1, grey) or None
    brightness: float


def draw_view(rng: np.random.Generator, style: DomainStyle, camid: int, identity: dict) -> View:
    """Draw the viewing parameters of one image of ``identity`` under camera ``camid``."""
    cam = style.cameras[camid]
    view = VIEWS[int(rng.choice(3, p=cam.view_probs))]
    height = HEIGHT * float(rng.uniform(*cam.scale)) * identity["_height"]
    top = (HEIGHT - height) / 2 + float(rng.uniform(-4, 4))
    center = WIDTH / 2 + float(rng.uniform(-5, 5))
    occluder = None
    if rng.random() < cam.occlusion:
        y0 = top + height * float(rng.uniform(0.6, 0.8))
        x0 = float(rng.uniform(-10, WIDTH / 2))
        occluder = (x0, y0, x0 + float(rng.uniform(25, 45)), HEIGHT, int(rng.integers(60, 200)))
    return View(view, height, top, center, occluder, cam.brightness * float(rng.uniform(0.92, 1.08)))


def part_boxes(identity: dict, v: View) -> dict:
    """Head / upper-body / legs boxes ``(x0, y0, x1, y1)`` in pixels, clipped to the crop."""
    h, t, c = v.height, v.top, v.center
    half = 0.2 * h * 0.5 * identity["_build"] * (0.65 if v.view == "side" else 1.0)
    arm = half * 0.45

    def clip(box):
        x0, y0, x1, y1 = box
        return (max(0, round(x0)), max(0, round(y0)), min(WIDTH, round(x1)), min(HEIGHT, round(y1)))

    return {
        "head": clip((c - 0.45 * half - 2, t - 0.04 * h, c + 0.45 * half + 2, t + 0.16 * h)),
        "upper": clip((c - half - arm, t + 0.16 * h, c + half + arm, t + 0.52 * h)),
        "legs": clip((c - half, t + 0.52 * h, c + half, t + h)),
    }


def _background(rng: np.random.Generator, style: DomainStyle) -> np.ndarray:
    y = np.linspace(0, 1, HEIGHT)[:, None, None]
    b1, b2 = np.array(style.background, float), np.array(style.background2, float)
    img = np.broadcast_to(b1 * (1 - y) + b2 * y, (HEIGHT, WIDTH, 3)).copy()
    if style.texture == "stripes":
        phase = rng.integers(0, 8)
        img[:, ((np.arange(WIDTH) + phase) // 4) % 2 == 0] *= 0.85
    elif style.texture == "floor":
        horizon = int(HEIGHT * rng.uniform(0.55, 0.75))
        img[horizon:] = img[horizon:] * 0.7 + 40
    img += rng.normal(0, 6, (HEIGHT, WIDTH, 1))
    return img


def render(identity: dict, v: View, style: DomainStyle, rng: np.random.Generator, modality: str = "rgb",
           warmth: float = 0.0) -> Image.Image:
    """Draw ``identity`` seen as ``v`` in ``style``; returns a 64x128 3-channel PIL image, visible (``"rgb"``)
    or converted to another ``modality`` before the camera's gain, noise, blur and resolution
    (:func:`~lifelong_reid.synthetic.modalities.to_modality`; ``warmth`` is the identity's thermal offset)."""
    background = np.clip(_background(rng, style), 0, 255).astype(np.uint8)
    img = Image.fromarray(background)
    d = ImageDraw.Draw(img)
    a = identity
    h, t, c = v.height, v.top, v.center
    half = 0.2 * h * 0.5 * a["_build"] * (0.65 if v.view == "side" else 1.0)
    arm = half * 0.45
    skin = SKIN_TONES[a["_skin"]]
    upper, lower = COLORS[a["upper_color"]], COLORS[a["lower_color"]]
    y_neck, y_waist, y_shoe = t + 0.16 * h, t + 0.52 * h, t + 0.96 * h

    # bag behind the body (back view shows a backpack over the torso, drawn later)
    if a["bag"] == "shoulder_bag" and v.view != "back":
        d.rectangle((c + half - 1, y_waist - 0.12 * h, c + half + arm + 3, y_waist + 0.02 * h),
                    fill=COLORS[a["bag_color"]])
    # legs
    leg_w = half * 0.85
    if a["lower_type"] == "pants":
        d.rectangle((c - leg_w, y_waist, c - 1, y_shoe), fill=lower)
        d.rectangle((c + 1, y_waist, c + leg_w, y_shoe), fill=lower)
    else:
        d.rectangle((c - leg_w * 0.8, y_waist, c - 1, y_shoe), fill=skin)
        d.rectangle((c + 1, y_waist, c + leg_w * 0.8, y_shoe), fill=skin)
        if a["lower_type"] == "shorts":
            d.rectangle((c - leg_w, y_waist, c + leg_w, y_waist + 0.17 * h), fill=lower)
        else:  # skirt: a trapezoid
            d.polygon([(c - half, y_waist), (c + half, y_waist), (c + half * 1.4, y_waist + 0.24 * h),
                       (c - half * 1.4, y_waist + 0.24 * h)], fill=lower)
    shoes = COLORS[a["shoes_color"]]
    d.rectangle((c - leg_w - 1, y_shoe, c - 1, t + h), fill=shoes)
    d.rectangle((c + 1, y_shoe, c + leg_w + 1, t + h), fill=shoes)
    # torso and arms
    coat_extra = 0.06 * h if a["upper_type"] == "coat" else 0.0
    d.rectangle((c - half, y_neck, c + half, y_waist + coat_extra), fill=upper)
    sleeve_end = y_neck + (0.12 * h if a["upper_type"] == "short_sleeve" else 0.34 * h)
    for x0 in ((c - half - arm, c + half) if v.view != "side" else (c - arm / 2,)):
        d.rectangle((x0, y_neck + 1, x0 + arm, t + 0.5 * h), fill=skin)
        d.rectangle((x0, y_neck + 1, x0 + arm, sleeve_end), fill=upper)
    if a["upper_pattern"] == "stripes":
        pc = COLORS[a["pattern_color"]]
        y = y_neck + 2
        while y < y_waist - 1:
            d.line((c - half, y, c + half, y), fill=pc, width=1)
            y += a["_stripe_period"]
    elif a["upper_pattern"] == "logo" and v.view == "front":
        lx, ly = a["_logo"]
        x, y = c - half + lx * 2 * half, y_neck + ly * (y_waist - y_neck)
        d.rectangle((x - 3, y - 3, x + 3, y + 3), fill=COLORS[a["pattern_color"]])
    if a["bag"] == "backpack" and v.view in ("back", "side"):
        bx = c - half * 0.8 if v.view == "back" else c - half - arm * 1.5
        d.rectangle((bx, y_neck + 0.04 * h, bx + (1.6 * half if v.view == "back" else arm * 1.6),
                     y_waist - 0.02 * h), fill=COLORS[a["bag_color"]])
    if a["bag"] == "handbag" and v.view != "back":
        d.rectangle((c + half + 1, t + 0.47 * h, c + half + arm + 4, t + 0.58 * h), fill=COLORS[a["bag_color"]])
    # head, hair, hat
    hw = 0.45 * half + 1
    hair = HAIR_COLORS[a["hair_color"]]
    if a["hair_length"] == "long":
        d.rectangle((c - hw - 1, t + 0.02 * h, c + hw + 1, t + 0.24 * h), fill=hair)
    d.ellipse((c - hw, t, c + hw, t + 0.16 * h), fill=hair if v.view == "back" else skin)
    d.chord((c - hw, t - 0.01 * h, c + hw, t + 0.1 * h), 180, 360, fill=hair)
    if a["hat"] != "none":
        hc = COLORS[a["hat_color"]]
        d.rectangle((c - hw, t - 0.03 * h, c + hw, t + 0.04 * h), fill=hc)
        if a["hat"] == "cap" and v.view != "back":
            d.rectangle((c, t + 0.02 * h, c + hw + 4, t + 0.05 * h), fill=hc)
    if modality != "rgb":  # convert the person first: an occluder is an object at ambient temperature
        img = to_modality(img, background, modality, rng, warmth)
        d = ImageDraw.Draw(img)
    if v.occluder is not None:
        x0, y0, x1, y1, grey = v.occluder
        grey = min(grey, 60) if modality == "tir" else grey
        d.rectangle((x0, y0, x1, y1), fill=(grey, grey, grey))

    arr = np.asarray(img, dtype=np.float32)
    cast = np.array(style.cast, np.float32) if modality == "rgb" else np.float32(1.0)  # no colour in IR
    arr = arr * style.gain * v.brightness * cast
    arr += rng.normal(0, style.noise, arr.shape).astype(np.float32)
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if style.blur > 0:
        out = out.filter(ImageFilter.GaussianBlur(style.blur))
    if style.resolution < 1.0:
        small = (max(8, round(WIDTH * style.resolution)), max(16, round(HEIGHT * style.resolution)))
        out = out.resize(small, Image.BILINEAR).resize((WIDTH, HEIGHT), Image.BILINEAR)
    return out
