"""ReID losses: identity cross-entropy with label smoothing, batch-hard triplet, and the contrastive losses of
the vision-language methods (SupCon, image-to-text cross-entropy, InfoNCE)."""
from lifelong_reid.losses.contrastive import image_to_text_loss, info_nce, supcon_loss, symmetric_supcon_loss
from lifelong_reid.losses.identity import identity_loss
from lifelong_reid.losses.triplet import batch_hard_triplet_loss

__all__ = ["identity_loss", "batch_hard_triplet_loss", "supcon_loss", "symmetric_supcon_loss",
           "image_to_text_loss", "info_nce"]
