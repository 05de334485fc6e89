"""A procedural, seed-deterministic generator of people for offline runs and tests.

- ``attributes.py``: the attribute vocabulary and how identities are drawn and described in words;
- ``render.py``: drawing one crop of one identity under one camera and domain style;
- ``domains.py``: domain styles (background, illumination, colour cast, blur, resolution) and cameras;
- ``generator.py``: :class:`SyntheticDomain`, which builds a :class:`~lifelong_reid.data.DomainData`;
- ``pretrain.py``: contrastive image-caption pretraining of a tiny CLIP on synthetic people (a cached
  vision-language prior for offline tests; import it explicitly, it is not loaded here).

It is a test and demo device (it gives ground-truth attributes, captions and part boxes), never a
substitute for real data in claims.
"""
from lifelong_reid.synthetic.generator import SyntheticDomain, synthetic_domain

__all__ = ["SyntheticDomain", "synthetic_domain"]
