"""Extra augmented views of the training images (plugins ask for them in ``lreid_train_views``)."""
from __future__ import annotations

from typing import Callable, Mapping

from torch.utils.data import Dataset


class TrainViews(Dataset):
    """The items of ``dataset`` (a training dataset whose items are those of
    :class:`~lifelong_reid.data.ReIDDataset`), each with ``meta["views"] = {name: transform(stored image)}``:
    every view is drawn by its own transform from the image as stored (read again through
    ``reid_dataset.load_image`` with the item's sample index), independently of the item's own augmentation.
    :func:`~lifelong_reid.data.collate_reid` stacks them into ``batch.side["views"]``.

    Args:
        dataset: the training dataset (the strategy's Avalanche dataset in its ``train`` transform group).
        reid_dataset: the :class:`~lifelong_reid.data.ReIDDataset` it wraps (``load_image(index)``).
        views: ``{name: transform}``, a transform mapping a PIL image (or a tuple's list) to a tensor.
    """

    def __init__(self, dataset, reid_dataset, views: Mapping[str, Callable]):
        self.dataset, self.reid_dataset, self.views = dataset, reid_dataset, dict(views)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        item = list(self.dataset[index])
        stored = self.reid_dataset.load_image(int(item[4]))
        meta = dict(item[5]) if len(item) > 5 else {}
        meta["views"] = {name: transform(stored) for name, transform in self.views.items()}
        return [*item[:5], meta]
