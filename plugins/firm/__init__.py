"""FIRM (unsupervised visible-infrared ReID; ``../shared/papers/FIRM_unsupervised_VI-ReID_ACML2025.txt``, abstract
only, no public code), in progress: so far ``matching.py``, the cross-modality cluster matching (optimal
transport with POT, and PGM's Hungarian matching as the baseline). Not registered as a plugin yet.
"""
