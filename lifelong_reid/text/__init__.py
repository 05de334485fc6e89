"""The text side every CLIP ReID method shares, over open_clip's (frozen) text tower.

- ``encoding.py``: run the text transformer on token *embeddings* (so learnable tokens can be spliced in) and
  read features at EOT or at given positions;
- ``prompts.py``: learnable prompts: :class:`IdentityPromptLearner` (CLIP-ReID's per-identity context tokens
  in a template, MUVA's multi-grained templates) and :class:`CaptionPromptLearner` (learnable token groups
  read together with a caption, VLADR's attribute prompts);
- ``stage1.py``: :class:`Stage1Trainer`, CLIP-ReID's stage 1 (prompts learnt against frozen image features
  with the symmetric supervised contrastive loss), over identities or captions.

The contrastive losses (SupCon, image-to-text cross-entropy, InfoNCE) are in :mod:`lifelong_reid.losses`.
"""
from lifelong_reid.text.encoding import context_length, encode_embeddings, text_width
from lifelong_reid.text.prompts import CaptionPromptLearner, IdentityPromptLearner
from lifelong_reid.text.stage1 import Stage1Trainer

__all__ = ["encode_embeddings", "text_width", "context_length", "IdentityPromptLearner", "CaptionPromptLearner",
           "Stage1Trainer"]
