"""ReID losses: identity cross-entropy with label smoothing and batch-hard triplet."""
from lifelong_reid.losses.identity import identity_loss
from lifelong_reid.losses.triplet import batch_hard_triplet_loss

__all__ = ["identity_loss", "batch_hard_triplet_loss"]
