"""Evaluation protocols: which gallery images a query is ranked against, and how CMC is counted.

Every protocol ignores junk gallery images (``pid == -1``) and keeps distractors (``pid == 0``) as
non-matches. They differ in two rules:

``removal`` (gallery images taken out of one query's ranked list):
    - ``"same_camera"``: the query's identity seen by the query's camera (Market-1501, DukeMTMC-reID,
      MSMT17, CUHK03-NP, the LReID domains, LLCM, multi-modal object ReID). This is the rule of
      torchreid's and fast-reid's ``eval_market1501``.
    - ``"none"``: nothing. For single-camera datasets (CUHK-SYSU as used in lifelong ReID), the
      same-camera rule would remove every match; DASK/LSTKC code reaches the same result by giving
      query and gallery different camera ids. Also RegDB, whose query and gallery are different
      modalities.
    - ``"sysu"``: every gallery image of camera 2 for a query from camera 3, whatever its identity
      (SYSU-MM01: cameras 2 and 3 watch the same indoor room); AGW's ``eval_sysu``.

``cmc`` (how Rank-k is counted):
    - ``"standard"``: a match within the first k kept gallery images.
    - ``"distinct_ids"``: a match within the first k *distinct identities* of the ranked list (each
      identity counted at its first occurrence); the rule of the SYSU-MM01 authors' code that AGW's
      ``eval_sysu`` / ``eval_llcm`` follow and that visible-infrared papers report.

mAP and mINP are the same for all protocols (computed on the kept, ranked gallery).
"""
from __future__ import annotations

from dataclasses import dataclass

REMOVALS = ("same_camera", "none", "sysu")
CMC_MODES = ("standard", "distinct_ids")


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol (see the module docstring for the rules)."""

    name: str
    removal: str
    cmc: str
    description: str

    def __post_init__(self):
        if self.removal not in REMOVALS:
            raise ValueError(f"protocol {self.name!r}: removal must be one of {REMOVALS}, got {self.removal!r}")
        if self.cmc not in CMC_MODES:
            raise ValueError(f"protocol {self.name!r}: cmc must be one of {CMC_MODES}, got {self.cmc!r}")


_REGISTRY: dict[str, Protocol] = {}


def register_protocol(protocol: Protocol) -> Protocol:
    """Add ``protocol`` to the registry (plugins may add their own); returns it.

    Raises:
        ValueError: a protocol of that name exists already.
    """
    if protocol.name in _REGISTRY:
        raise ValueError(f"protocol {protocol.name!r} is registered already")
    _REGISTRY[protocol.name] = protocol
    return protocol


def get_protocol(name: str | Protocol) -> Protocol:
    """The registered protocol called ``name`` (a :class:`Protocol` is returned as is).

    Raises:
        ValueError: unknown name; the message lists the known ones.
    """
    if isinstance(name, Protocol):
        return name
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def protocol_names() -> tuple[str, ...]:
    """Names of the registered protocols."""
    return tuple(_REGISTRY)


register_protocol(Protocol("market1501", "same_camera", "standard",
                           "same identity under the query's camera removed (Market-1501, Duke, MSMT17, CUHK03)"))
register_protocol(Protocol("single_camera", "none", "standard",
                           "nothing removed: one-camera datasets such as CUHK-SYSU in lifelong ReID"))
register_protocol(Protocol("sysu_mm01", "sysu", "distinct_ids",
                           "SYSU-MM01: camera-2 gallery removed for camera-3 queries; CMC over distinct ids"))
register_protocol(Protocol("regdb", "none", "standard",
                           "RegDB: visible vs thermal, nothing removed"))
register_protocol(Protocol("llcm", "same_camera", "distinct_ids",
                           "LLCM: same identity and camera removed; CMC over distinct ids"))
