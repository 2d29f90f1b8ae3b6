"""``ProbeCallback``: the schedule and the data every analysis callback shares.

Every ``every_n_epochs`` epochs and at the last epoch of ``fit`` (and on every ``trainer.validate``
run, so any checkpoint can be re-measured), at the end of validation, a subclass measures the
model on a fixed probe subset of a split (``ImageDataModule.probe_set``: the same samples each
time). Under DDP the probe set is cut into the same batches whatever the number of ranks and the
batches are dealt to ranks (``shard_batches``): no sample is counted twice and no rank gets padding.
A subclass names its sections (``lightning_pse.sections``: the same objects ``analyze.py`` uses);
their torchmetrics states sum over ranks in ``compute``, so every rank logs the same numbers as a
single process would. Callbacks that measure in the same validation run on the same probe batches
share their attack runs (``AttackRuns``): the PSE and CAM callbacks attack each batch once.

Under ``Trainer(fast_dev_run=...)`` every callback measures once, on one batch of ``SMOKE_SAMPLES``
probe images with its attacks at their smallest budget (``shrink_for_smoke_run``), so the smoke run
ends in seconds and still passes through every section.

Every callback checks its configuration in ``setup``, before the first training step: the data
module, the split, one forward pass of the model on a probe image (size, channels, class count),
and the subclass's own needs (``check``: layers, attacks' class counts, concept set). A misfit is
a ``UserInputError`` (one ``error:`` line from ``train.py``), never a crash at epoch N.

The measurement runs outside ``torch.inference_mode`` with gradients enabled (attacks need them)
and autocast off (float32 numbers under a mixed-precision Trainer), whatever the Trainer's
settings, on fresh tensors from the probe loader.
"""

from __future__ import annotations

import io
import sys
import warnings
import weakref
from collections.abc import Iterator

import pytorch_lightning as pl
import torch
from pytorch_lightning.trainer.states import TrainerFn
from pytorch_lightning.utilities.exceptions import SIGTERMException
from torch import Tensor, nn

from ..attacks import Attack, presets
from ..data import ImageDataModule, shard_batches, shard_loader, unpack_batch
from ..errors import UserInputError
from ..models.state import check_takes_images, full_precision
from ..output.media import log_media
from ..progress import showing, stage
from ..sections import AttackRuns, ProbeBatch, Section

# Attack runs of the current validation run, per trainer and probe batch: shared by every callback
# that measures on the same batches (cleared when a validation run starts and ends).
_SHARED_RUNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

SMOKE_SAMPLES = 4  # probe images per callback under ``fast_dev_run``: one batch


class ProbeCallback(pl.Callback):
    """Base of the per-epoch analysis callbacks (see the module docstring).

    Args:
        every_n_epochs: measure after the validation of every N-th epoch (and of the last one).
        num_samples: size of the probe subset (``None``: the whole split).
        split: ``val`` (default; never select checkpoints on ``test``) or another split.
        seed: which subset (``probe_indices``).
        batch_size: probe samples per batch and rank.
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        num_samples: int | None = 256,
        split: str = "val",
        seed: int = 0,
        batch_size: int = 64,
    ) -> None:
        if every_n_epochs < 1 or batch_size < 1:
            raise UserInputError(
                f"every_n_epochs and batch_size must be at least 1, got {every_n_epochs} and {batch_size}"
            )
        self.every_n_epochs = every_n_epochs
        self.num_samples = num_samples
        self.split = split
        self.seed = seed
        self.batch_size = batch_size
        self.results: dict[str, dict] = {}  # the report entries of the last measurement, per section

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        datamodule = trainer.datamodule
        if not isinstance(datamodule, ImageDataModule):
            raise UserInputError(
                f"{type(self).__name__} needs an ImageDataModule passed to the Trainer as "
                f"datamodule, got {type(datamodule).__name__}"
            )
        if self.split not in ("train", "val", "test"):
            raise UserInputError(f"{type(self).__name__}: unknown split {self.split!r}; use train, val or test")
        self.use_threat_model(*presets.model_threat(getattr(pl_module, "hparams", {}), datamodule))
        if trainer.fast_dev_run:
            self.shrink_for_smoke_run()
            if trainer.is_global_zero:
                print(
                    f"fast_dev_run: {type(self).__name__} measures {self.num_samples} probe images with its "
                    "attacks at their smallest budget (a check that it runs, not numbers to read)",
                    file=sys.stderr,
                )
        x = datamodule.example_image(self.split, self.seed).to(pl_module.device)
        model = getattr(pl_module, "model", pl_module)
        num_classes = check_takes_images(model, x, datamodule.num_classes, type(datamodule).__name__)
        for attack in self.attacks_used():
            attack.check_classes(num_classes)
        self.check(trainer, model, x)

    def attacks_used(self) -> list[Attack]:
        """The attacks the measurement runs (their class counts are checked in ``setup``)."""
        return []

    def use_threat_model(self, norm: str, eps: float) -> None:
        """Called in ``setup`` with the module's training radius (or the dataset's standard one,
        ``presets.model_threat``): a callback built without attacks makes its default ones at it."""

    def shrink_for_smoke_run(self) -> None:
        """Under ``Trainer(fast_dev_run=...)``, Lightning's check that everything runs: one probe
        batch of at most ``SMOKE_SAMPLES`` images, and the subclass's attacks at their smallest
        budget (``use_cheapest_attacks``). The callback keeps these settings afterwards."""
        self.num_samples = min(self.num_samples or SMOKE_SAMPLES, SMOKE_SAMPLES)
        self.batch_size = SMOKE_SAMPLES
        self.use_cheapest_attacks()

    def use_cheapest_attacks(self) -> None:
        """Replace the attacks the measurement runs by their ``Attack.cheapest`` copies (and shrink
        any other costly setting of the subclass); called under ``fast_dev_run``."""

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
        with (
            torch.inference_mode(False),
            torch.enable_grad(),
            full_precision(pl_module.device),
            showing("auto" if trainer.is_global_zero else None),  # rank 0 shows the progress
        ):
            self.measure(trainer, pl_module, model)

    def sections(self) -> list[Section]:
        """The sections this callback measures (built in ``__init__`` or ``setup``)."""
        raise NotImplementedError

    def measure(self, trainer: pl.Trainer, pl_module: pl.LightningModule, model: nn.Module) -> None:
        """Pass this rank's probe batches through the sections, then log their synced scalars and
        (rank 0, W&B) their figures and tables. ``self.results``: the last report entries of each
        section, keyed by its media prefix (``pse``, ``cam``, ``dissect/<layer>``, ``<split>``)."""
        sections = self.sections()
        for section in sections:
            section.reset(pl_module.device, keep_examples=trainer.is_global_zero)
        shared = _SHARED_RUNS.setdefault(trainer, {})
        probe = trainer.datamodule.probe_set(self.num_samples, self.split, self.seed)
        num_batches = len(shard_batches(len(probe), self.batch_size, trainer.global_rank, trainer.world_size))
        name = f"{type(self).__name__} (epoch {trainer.current_epoch})"
        with stage(name, num_batches) as bar:
            for batch in self.probe_batches(trainer, model, probe):
                if trainer.received_sigterm:  # a requested stop: end at this clean point (``StopCheckpoint``)
                    raise SIGTERMException
                key = (self.split, self.seed, self.num_samples, self.batch_size, tuple(batch.index.tolist()))
                runs = shared.setdefault(key, AttackRuns(model, batch))
                for section in sections:
                    section.update(model, batch, runs)
                bar.update()
            self.results = {}
            with warnings.catch_warnings():  # a probe set (or rank) with nothing to measure is legitimate
                warnings.filterwarnings("ignore", message=".*before the ``update`` method")
                reports = [
                    (section, section.compute(model, trainer.global_rank, trainer.world_size)) for section in sections
                ]
        for section, report in reports:
            self.results[section.media_prefix(report)] = report
            self.log_scalars(pl_module, section.scalars(report))
        log_media(trainer, lambda logger: self.log_section_media(logger, trainer.global_step, reports))

    @staticmethod
    def log_section_media(logger, step: int, reports: list[tuple[Section, dict]]) -> None:
        """Each section's figures (PNG) and tables under ``<section prefix>/<name>``."""
        from PIL import Image

        for section, report in reports:
            prefix = section.media_prefix(report)
            for name, draw in section.figures(report).items():
                logger.log_image(f"{prefix}/{name}", images=[Image.open(io.BytesIO(draw()))], step=step)
            for name, (columns, rows) in section.tables(report).items():
                logger.log_table(f"{prefix}/{name}", columns=columns, data=rows, step=step)

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _SHARED_RUNS.pop(trainer, None)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _SHARED_RUNS.pop(trainer, None)

    def probe_batches(self, trainer: pl.Trainer, model: nn.Module, probe) -> Iterator[ProbeBatch]:
        """This rank's batches of ``probe`` (the probe set), on the model's device, with their clean logits."""
        datamodule = trainer.datamodule
        device = next(model.parameters()).device
        for positions, batch in shard_loader(
            probe, self.batch_size, trainer.global_rank, trainer.world_size, datamodule.num_workers
        ):
            x, y = unpack_batch(batch)
            x, y = x.to(device), y.to(device)
            extras = (
                {k: v.to(device) for k, v in batch.items() if k not in ("image", "label")}
                if isinstance(batch, dict)
                else {}
            )
            yield ProbeBatch.of(model, x, y, extras, torch.tensor(positions))

    @staticmethod
    def log_scalars(pl_module: pl.LightningModule, values: dict[str, Tensor | float]) -> None:
        """Log values that are already synced (equal on every rank)."""
        for name, value in values.items():
            pl_module.log(name, torch.as_tensor(value, dtype=torch.float32, device=pl_module.device), sync_dist=True)
