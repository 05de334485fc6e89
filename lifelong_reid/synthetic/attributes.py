"""Identity attributes of synthetic people, how they are drawn, and how they read as a caption."""
from __future__ import annotations

import numpy as np

COLORS = {
    "black": (25, 25, 28), "white": (235, 235, 230), "grey": (128, 128, 130), "red": (200, 30, 35),
    "blue": (35, 60, 190), "green": (40, 150, 60), "yellow": (230, 200, 40), "purple": (120, 50, 150),
    "brown": (120, 75, 40), "pink": (240, 140, 180), "orange": (240, 130, 30), "navy": (20, 30, 80),
}
HAIR_COLORS = {"black": (20, 18, 16), "brown": (90, 55, 30), "blond": (215, 185, 110), "grey": (160, 160, 160)}
SKIN_TONES = [(245, 210, 185), (225, 180, 140), (180, 130, 95), (120, 80, 55)]

#: Attribute name -> possible values. Colours index :data:`COLORS` (hair: :data:`HAIR_COLORS`).
VOCABULARY = {
    "gender": ["male", "female"],
    "hair_length": ["short", "long"],
    "hair_color": list(HAIR_COLORS),
    "hat": ["none", "cap", "beanie"],
    "hat_color": list(COLORS),
    "upper_type": ["short_sleeve", "long_sleeve", "coat"],
    "upper_color": list(COLORS),
    "upper_pattern": ["plain", "stripes", "logo"],
    "pattern_color": list(COLORS),
    "lower_type": ["pants", "shorts", "skirt"],
    "lower_color": list(COLORS),
    "shoes_color": ["black", "white", "brown", "red"],
    "bag": ["none", "backpack", "handbag", "shoulder_bag"],
    "bag_color": list(COLORS),
}


def draw_identity(rng: np.random.Generator) -> dict:
    """Draw one identity: its attributes plus fine detail (skin tone, body build, logo position).

    Attributes are drawn independently except: a skirt only for ``female``, long hair more likely for
    ``female``. The fine-detail keys start with ``_`` and are not part of the caption.
    """
    a = {k: str(rng.choice(v)) for k, v in VOCABULARY.items()}
    if a["lower_type"] == "skirt" and a["gender"] == "male":
        a["lower_type"] = "pants"
    if a["gender"] == "female" and rng.random() < 0.6:
        a["hair_length"] = "long"
    while a["pattern_color"] == a["upper_color"]:
        a["pattern_color"] = str(rng.choice(VOCABULARY["pattern_color"]))
    a["_skin"] = int(rng.integers(len(SKIN_TONES)))
    a["_build"] = float(rng.uniform(0.85, 1.15))
    a["_height"] = float(rng.uniform(0.9, 1.05))
    a["_logo"] = (float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.2, 0.6)))
    a["_stripe_period"] = int(rng.integers(3, 7))
    return a


def public_attributes(identity: dict) -> dict:
    """The named attributes (fine-detail keys removed)."""
    return {k: v for k, v in identity.items() if not k.startswith("_")}


def caption(identity: dict) -> str:
    """A sentence describing ``identity``, e.g. "A man with short black hair wearing a red coat, ..."."""
    a = identity
    person = "man" if a["gender"] == "male" else "woman"
    parts = [f"A {person} with {a['hair_length']} {a['hair_color']} hair"]
    if a["hat"] != "none":
        parts.append(f"a {a['hat_color']} {a['hat']}")
    upper = a["upper_type"].replace("_", "-")
    pattern = {"plain": "", "stripes": f" with {a['pattern_color']} stripes",
               "logo": f" with a {a['pattern_color']} logo"}[a["upper_pattern"]]
    parts.append(f"wearing a {a['upper_color']} {upper} top{pattern}")
    parts.append(f"{a['lower_color']} {a['lower_type']}")
    parts.append(f"{a['shoes_color']} shoes")
    text = ", ".join(parts)
    if a["bag"] != "none":
        text += f", carrying a {a['bag_color']} {a['bag'].replace('_', ' ')}"
    return text + "."


def caption_parts(identity: dict) -> dict:
    """The caption split by body part, as VLADR's released BLIP-2 descriptions are (``head``, ``upper``,
    ``lower``, ``foot``; :data:`~lifelong_reid.data.sample.CAPTION_PARTS`): one sentence each, e.g. ``{"head": "A
    man with short black hair and a red cap.", "upper": "He wears a blue coat top with white stripes.", ...}``."""
    a = identity
    person, pronoun = ("man", "He") if a["gender"] == "male" else ("woman", "She")
    hat = f" and a {a['hat_color']} {a['hat']}" if a["hat"] != "none" else ""
    pattern = {"plain": "", "stripes": f" with {a['pattern_color']} stripes",
               "logo": f" with a {a['pattern_color']} logo"}[a["upper_pattern"]]
    bag = f", carrying a {a['bag_color']} {a['bag'].replace('_', ' ')}" if a["bag"] != "none" else ""
    return {"head": f"A {person} with {a['hair_length']} {a['hair_color']} hair{hat}.",
            "upper": f"{pronoun} wears a {a['upper_color']} {a['upper_type'].replace('_', '-')} top{pattern}{bag}.",
            "lower": f"{pronoun} wears {a['lower_color']} {a['lower_type']}.",
            "foot": f"{pronoun} wears {a['shoes_color']} shoes."}
