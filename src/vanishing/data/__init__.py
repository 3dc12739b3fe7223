"""Data sets, all offline: shipped (digits), generated (mnist1d, spirals, circles, teacher) or the
user's own IDX files (idx). Choose one with a spec string and :func:`load_dataset`.

>>> from vanishing.data import load_dataset
>>> ds = load_dataset("digits", seed=0)
>>> ds.x_train.shape, ds.n_classes
(torch.Size([1437, 64]), 10)
"""

from .cache import cache_dir
from .dataset import Arrays, Dataset, Task
from .load import DATASETS, DatasetLoader, check_dataset_spec, load_dataset

# importing the loaders registers them, in this order
from . import digits, mnist1d, synthetic, idx  # noqa: E402,F401  isort: skip
from .sequence import TASKS, SequenceData, check_task_spec, load_task  # noqa: E402  isort: skip

__all__ = ["Arrays", "DATASETS", "Dataset", "DatasetLoader", "Task", "cache_dir", "check_dataset_spec",
           "load_dataset", "TASKS", "SequenceData", "check_task_spec", "load_task"]
