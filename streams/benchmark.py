"""The benchmark object every stream builder returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Collection, Optional, Sequence, Union

from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
from avalanche.benchmarks.utils import DataAttribute, TransformGroups, make_avalanche_dataset

from lifelong_reid.data.dataset import ReIDDataset, relabel
from lifelong_reid.data.sample import DomainData
from lifelong_reid.data.transforms import build_transforms
from lifelong_reid.errors import DatasetLayoutError
from lifelong_reid.evaluation.protocols import get_protocol


def to_avalanche(dataset: ReIDDataset, transforms):
    """Wrap a :class:`ReIDDataset` as an ``AvalancheDataset`` with ``train``/``eval`` transform groups and
    ``targets``, ``pids``, ``camids``, ``captions`` (``""`` where a sample has none) and ``caption_parts`` (a tuple
    of part sentences, ``()`` where a sample has none) data attributes.
    Items are those of :class:`ReIDDataset`; the wrapped dataset is ``.reid_dataset`` (the strategy sets which
    geometric side information it carries)."""
    train_tf, eval_tf = transforms
    wrapped = make_avalanche_dataset(
        dataset,
        data_attributes=[DataAttribute(dataset.targets, "targets"),
                         DataAttribute(dataset.pids.tolist(), "pids"),
                         DataAttribute(dataset.camids.tolist(), "camids"),
                         DataAttribute([s.caption or "" for s in dataset.samples], "captions"),
                         DataAttribute([tuple((s.caption_parts or {}).values()) for s in dataset.samples],
                                       "caption_parts")],
        transform_groups=TransformGroups({"train": train_tf, "eval": eval_tf}),
    )
    wrapped.reid_dataset = dataset  # kept by Avalanche's .train() / .eval() copies; see ReIDDataset.geometric
    return wrapped


@dataclass
class ReIDBenchmark:
    """An Avalanche ``CLScenario`` plus the ReID facts a run needs.

    Attributes:
        name: stream name (``results.json`` ``stream``).
        scenario: the Avalanche benchmark; ``scenario.train_stream[t]`` trains step ``t``;
            ``scenario.query_stream[j]`` / ``scenario.gallery_stream[j]`` evaluate domain ``eval_domains[j]``.
        train_domains: the domain name of each training experience (seen domains, in order).
        eval_domains: evaluation domain names (seen then unseen).
        unseen_domains: test-only domains (generalisation).
        domains: the :class:`DomainData` of every domain, by name.
        protocol: evaluation protocol per evaluation domain.
        unsupervised: training domains whose identities are hidden from the strategy (targets ``-1``; the
            true pids stay on the samples and in the ``pids`` data attribute, for evaluation and for
            measuring pseudo-label quality).
    """

    name: str
    scenario: object
    train_domains: list[str]
    eval_domains: list[str]
    unseen_domains: list[str]
    domains: dict = field(default_factory=dict)
    protocol: dict = field(default_factory=dict)
    unsupervised: list = field(default_factory=list)

    def __repr__(self) -> str:  # the dataclass repr would print the scenario and every sample
        unseen = f", unseen={self.unseen_domains}" if self.unseen_domains else ""
        return f"ReIDBenchmark({self.name!r}, train={self.train_domains}{unseen})"

    @property
    def train_stream(self):
        return self.scenario.train_stream

    @property
    def seen_domains(self) -> list[str]:
        """Training domains that are also evaluated (in training order)."""
        return [d for d in self.train_domains if d in self.eval_domains]

    def eval_sets(self):
        """``(name, query_dataset, gallery_dataset)`` for every evaluation domain."""
        for j, name in enumerate(self.eval_domains):
            yield name, self.scenario.query_stream[j].dataset, self.scenario.gallery_stream[j].dataset


def _check_matches(d: DomainData) -> None:
    """Fail early when the domain's protocol would skip every query of ``d``."""
    cams_by_pid: dict = {}
    for s in d.gallery:
        if s.pid != -1:
            cams_by_pid.setdefault(s.pid, set()).add(s.camid)
    try:
        protocol = get_protocol(d.protocol)
    except ValueError as e:
        raise DatasetLayoutError(f"domain {d.name}: {e}") from None
    if protocol.removal != "same_camera":
        if not any(q.pid in cams_by_pid for q in d.query):
            raise DatasetLayoutError(f"domain {d.name} ({d.root or 'generated'}): no query identity appears in "
                                     "the gallery; check the pid values")
    elif not any(cams_by_pid.get(q.pid, set()) - {q.camid} for q in d.query):
        raise DatasetLayoutError(
            f"domain {d.name} ({d.root or 'generated'}): no query has a gallery image of its identity from "
            "another camera, so the Market-1501 protocol cannot score it; check the pid and camid values, or "
            "set DomainData.protocol = 'single_camera' for a one-camera dataset")


def build_benchmark(name: str, train: Sequence[DomainData], evaluate: Sequence[DomainData],
                    unseen: Sequence[str], transforms: Optional[tuple] = None,
                    hide_identities: Union[bool, Collection[str]] = False) -> ReIDBenchmark:
    """Assemble the Avalanche benchmark: one training experience per item of ``train`` (labels made
    contiguous per experience, samples' side information carried), one query/gallery pair per item of
    ``evaluate`` (images only). With
    ``hide_identities`` every training target is ``-1`` (unsupervised; a pseudo-label plugin fills them);
    a collection of domain names hides only those (e.g. a labelled source domain, then unlabelled ones).

    Raises:
        DatasetLayoutError: a training domain has no training images, an evaluation domain lacks query
            or gallery images, or none of its queries has a cross-camera match.
    """
    transforms = transforms or build_transforms()
    for role, group in (("training", train), ("evaluation", evaluate)):
        names = [d.name for d in group]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise DatasetLayoutError(f"{role} domain names must be unique in a stream, repeated: {dup}")
    hidden = {d.name for d in train} if hide_identities is True else set(hide_identities or ())
    train_sets = []
    for d in train:
        if not d.train:
            raise DatasetLayoutError(f"domain {d.name} ({d.root or 'generated'}) has no training images")
        targets = [-1] * len(d.train) if d.name in hidden else relabel(d.train)[0]
        train_sets.append(to_avalanche(ReIDDataset(d.train, d.image_loader, targets), transforms))
    query_sets, gallery_sets = [], []
    for d in evaluate:
        if not d.query or not d.gallery:
            raise DatasetLayoutError(f"domain {d.name} ({d.root or 'generated'}) needs query and gallery images "
                                     f"for evaluation (query: {len(d.query)}, gallery: {len(d.gallery)})")
        _check_matches(d)
        # evaluation needs the images only: no side information (the geometric kind costs transform time)
        query_sets.append(to_avalanche(ReIDDataset(d.query, d.image_loader, side_info=False), transforms).eval())
        gallery_sets.append(to_avalanche(ReIDDataset(d.gallery, d.image_loader, side_info=False), transforms).eval())
    scenario = benchmark_from_datasets(train=train_sets, query=query_sets, gallery=gallery_sets)
    all_domains = {d.name: d for d in list(train) + list(evaluate)}
    return ReIDBenchmark(name=name, scenario=scenario, train_domains=[d.name for d in train],
                         eval_domains=[d.name for d in evaluate], unseen_domains=list(unseen),
                         domains=all_domains, protocol={d.name: d.protocol for d in evaluate},
                         unsupervised=[d.name for d in train if d.name in hidden])
