"""``ProbeCallback``: the schedule and the data every analysis callback shares.

Every ``every_n_epochs`` epochs and at the last epoch of ``fit`` (and on every ``trainer.validate``
run, so any checkpoint can be re-measured), at the end of validation, a subclass measures the
model on a fixed probe subset of a split (``ImageDataModule.probe_set``: the same samples each
time). Under DDP the probe set is cut into the same batches whatever the number of ranks and the
batches are dealt to ranks (``shard_batches``): no sample is counted twice and no rank gets padding.
Subclasses accumulate torchmetrics ``Metric`` objects, whose ``compute`` sums over ranks, so
every rank logs the same numbers as a single process would.

Every callback checks its configuration in ``setup``, before the first training step: the data
module, the split, one forward pass of the model on a probe image (size, channels, class count),
and the subclass's own needs (``check``: layers, attacks' class counts, concept set). A misfit is
a ``UserInputError`` (one ``error:`` line from ``train.py``), never a crash at epoch N.

The measurement runs outside ``torch.inference_mode`` with gradients enabled (attacks need them)
and autocast off (float32 numbers under a mixed-precision Trainer), whatever the Trainer's settings, on fresh tensors from the probe loader.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytorch_lightning as pl
import torch
from pytorch_lightning.trainer.states import TrainerFn
from torch import Tensor, nn

from ..attacks import Attack
from ..data import ImageDataModule, shard_loader, unpack_batch
from ..errors import UserInputError
from ..models.state import check_takes_images, eval_mode, full_precision


@dataclass
class ProbeBatch:
    """One probe batch on the model's device: ``index`` ``[B]`` (positions in the probe set),
    ``x`` ``[B, C, H, W]``, ``y`` ``[B]``, ``logits`` ``[B, K]`` on the clean images, and
    ``extras``: the dataset's other per-sample fields (e.g. the synthetic ``object_mask``)."""

    index: Tensor
    x: Tensor
    y: Tensor
    logits: Tensor
    extras: dict[str, Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.index.shape[0]

    @property
    def correct(self) -> Tensor:
        """``[B]`` bool: the clean prediction is the true label."""
        return self.logits.argmax(dim=1) == self.y

    def select(self, keep: Tensor) -> "ProbeBatch":
        """The samples where ``keep`` ``[B]`` (bool) is true."""
        return ProbeBatch(self.index[keep], self.x[keep], self.y[keep], self.logits[keep],
                          {name: value[keep] for name, value in self.extras.items()})


class ProbeCallback(pl.Callback):
    """Base of the per-epoch analysis callbacks (see the module docstring).

    Args:
        every_n_epochs: measure after the validation of every N-th epoch (and of the last one).
        num_samples: size of the probe subset (``None``: the whole split).
        split: ``val`` (default; never select checkpoints on ``test``) or another split.
        seed: which subset (``probe_indices``).
        batch_size: probe samples per batch and rank.
    """

    def __init__(self, every_n_epochs: int = 1, num_samples: int | None = 256, split: str = "val", seed: int = 0,
                 batch_size: int = 64) -> None:
        if every_n_epochs < 1 or batch_size < 1:
            raise UserInputError(f"every_n_epochs and batch_size must be at least 1, got {every_n_epochs} and "
                                 f"{batch_size}")
        self.every_n_epochs = every_n_epochs
        self.num_samples = num_samples
        self.split = split
        self.seed = seed
        self.batch_size = batch_size

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        datamodule = trainer.datamodule
        if not isinstance(datamodule, ImageDataModule):
            raise UserInputError(f"{type(self).__name__} needs an ImageDataModule passed to the Trainer as "
                                 f"datamodule, got {type(datamodule).__name__}")
        if self.split not in ("train", "val", "test"):
            raise UserInputError(f"{type(self).__name__}: unknown split {self.split!r}; use train, val or test")
        x = datamodule.example_image(self.split, self.seed).to(pl_module.device)
        model = getattr(pl_module, "model", pl_module)
        num_classes = check_takes_images(model, x, datamodule.num_classes, type(datamodule).__name__)
        for attack in self.attacks_used():
            attack.check_classes(num_classes)
        self.check(trainer, model, x)

    def attacks_used(self) -> list[Attack]:
        """The attacks the measurement runs (their class counts are checked in ``setup``)."""
        return []

    def check(self, trainer: pl.Trainer, model: nn.Module, x: Tensor) -> None:
        """Refuse a configuration that cannot measure ``model`` on images like ``x`` ``[1, C, H, W]``
        (layers, CAM method, pixel groups, concept set) with a ``UserInputError``; called in ``setup``."""

    def due(self, trainer: pl.Trainer) -> bool:
        """Measure now? Always in ``validate``; in ``fit`` every N epochs and at the last epoch."""
        if trainer.sanity_checking:
            return False
        if trainer.state.fn != TrainerFn.FITTING:
            return True
        epoch = trainer.current_epoch + 1
        return epoch % self.every_n_epochs == 0 or epoch == trainer.max_epochs

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.due(trainer):
            return
        model = getattr(pl_module, "model", pl_module)
        with torch.inference_mode(False), torch.enable_grad(), full_precision(pl_module.device):
            self.measure(trainer, pl_module, model)

    def measure(self, trainer: pl.Trainer, pl_module: pl.LightningModule, model: nn.Module) -> None:
        """Measure ``model`` on this rank's probe batches and log the synced results."""
        raise NotImplementedError

    def probe_batches(self, trainer: pl.Trainer, model: nn.Module) -> Iterator[ProbeBatch]:
        """This rank's probe batches, on the model's device, with their clean logits."""
        datamodule = trainer.datamodule
        probe = datamodule.probe_set(self.num_samples, self.split, self.seed)
        device = next(model.parameters()).device
        for positions, batch in shard_loader(probe, self.batch_size, trainer.global_rank, trainer.world_size,
                                             datamodule.num_workers):
            x, y = unpack_batch(batch)
            x, y = x.to(device), y.to(device)
            extras = {k: v.to(device) for k, v in batch.items() if k not in ("image", "label")} \
                if isinstance(batch, dict) else {}
            with eval_mode(model), torch.no_grad():
                logits = model(x)
            yield ProbeBatch(torch.tensor(positions, device=device), x, y, logits, extras)

    def has_field(self, trainer: pl.Trainer, name: str) -> bool:
        """Whether the probe set's items carry ``name`` (e.g. ``object_mask``)."""
        item = trainer.datamodule.probe_set(1, self.split, self.seed)[0]
        return isinstance(item, dict) and name in item

    @staticmethod
    def log_scalars(pl_module: pl.LightningModule, values: dict[str, Tensor | float]) -> None:
        """Log values that are already synced (equal on every rank)."""
        for name, value in values.items():
            pl_module.log(name, torch.as_tensor(value, dtype=torch.float32, device=pl_module.device), sync_dist=True)
