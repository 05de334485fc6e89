"""Data model, dataset readers, transforms and samplers.

- :class:`Sample` and :class:`DomainData` (``sample.py``): one crop and one dataset split into train,
  query and gallery;
- readers: :func:`read_market1501` (``market1501.py``), :func:`read_manifest` (``manifest.py``), and
  :func:`read_domain` (``detect.py``), which recognises either layout;
- the dataset registry (``registry.py``: Market-1501, DukeMTMC-reID, MSMT17, CUHK03-NP, CUHK-SYSU, LPW,
  the unseen test sets in ``unseen.py``, SYSU-MM01 / RegDB / LLCM in ``visible_infrared.py``) and
  ``check.py`` behind ``lreid datasets check``;
- side information (``side_info.py``): captions and part boxes (JSON), identity attributes (.mat);
- :class:`ReIDDataset` (``dataset.py``): a torch dataset over samples, with contiguous training labels and
  side information; :class:`ReIDBatch` and :func:`collate_reid` (``batch.py``): the mini-batch every hook
  receives;
- :func:`build_transforms` (``transforms.py``), :class:`PKSampler` and :class:`CameraDiversePKSampler`
  (``samplers.py``); :class:`~lifelong_reid.data.views.TrainViews` (``views.py``, extra augmented views).
"""
from lifelong_reid.data.sample import DomainData, Sample
from lifelong_reid.data.market1501 import read_market1501
from lifelong_reid.data.manifest import read_manifest
from lifelong_reid.data.detect import read_domain
from lifelong_reid.data.registry import dataset_names, get_dataset, read_dataset, register_dataset
from lifelong_reid.data.batch import SIDE_KEYS, ReIDBatch, collate_reid
from lifelong_reid.data.dataset import ReIDDataset, relabel
from lifelong_reid.data.transforms import build_transforms
from lifelong_reid.data.samplers import CameraDiversePKSampler, PKSampler

__all__ = [
    "Sample", "DomainData", "read_market1501", "read_manifest", "read_domain", "read_dataset", "dataset_names",
    "get_dataset", "register_dataset", "ReIDDataset", "relabel", "ReIDBatch", "collate_reid", "SIDE_KEYS",
    "build_transforms", "PKSampler", "CameraDiversePKSampler",
]
