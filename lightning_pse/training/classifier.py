"""Standard (ERM) training of an image classifier; the base of the adversarial training modules."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from ..data.datasets import check_images, unpack_batch
from ..errors import UserInputError, check_range
from ..models import build_model
from .resume import resume_train_loader
from .rng import gather_rng_states, restore_rank_rng_states

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("onecycle", "cosine", "multistep", "none")


@contextmanager
def shape_errors_named(x: Tensor, model: str):
    """Inside, a shape error of the model (a runtime error about sizes or shapes, not out-of-memory)
    becomes a one-line input error naming the image size: with a valid model and checked pixels, what
    remains is a size it cannot take. Other errors pass through unchanged."""
    try:
        yield
    except torch.OutOfMemoryError:
        raise
    except RuntimeError as err:
        message = str(err).strip()
        if not any(word in message.lower() for word in ("size", "shape")):
            raise
        first = message.splitlines()[0]
        raise UserInputError(
            f"model {model} cannot take {x.shape[-2]}×{x.shape[-1]} images ({first}): resize the "
            f"images to the size the model is meant for"
        ) from err


class ClassifierModule(pl.LightningModule):
    """Cross-entropy training of ``build_model(model, ...)``.

    Logged metrics: ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``, ``test/loss``,
    ``test/acc`` (one torchmetrics instance per stage). Subclasses change what is trained on by
    overriding ``training_loss``.

    Args:
        model: architecture name (see ``lightning_pse.models.available_models``).
        num_classes: the data's class count (the CLI links it from the data module, as the next three).
        in_channels: the images' channel count.
        mean: per-channel mean of the normalisation inside the model.
        std: per-channel standard deviation of that normalisation.
        model_kwargs: extra architecture arguments (e.g. ``{"width": 16}``).
        optimizer: ``sgd`` (with ``momentum`` and ``nesterov``), ``adam`` or ``adamw``.
        lr: the learning rate (peak rate under ``onecycle``).
        weight_decay: weight decay, on every parameter.
        scheduler: ``onecycle`` (warm-up then anneal, per step), ``cosine`` (per step to 0),
            ``multistep`` (× ``gamma`` at the epochs in ``milestones``) or ``none``.
        label_smoothing: cross-entropy label smoothing.
    """

    selection_metric = "val/acc"  # what ``callbacks.BestCheckpoint`` keeps the best epoch by

    def __init__(
        self,
        model: str = "small_cnn",
        num_classes: int = 10,
        in_channels: int = 3,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        model_kwargs: dict | None = None,
        optimizer: str = "sgd",
        lr: float = 0.1,
        momentum: float = 0.9,
        nesterov: bool = True,
        weight_decay: float = 5e-4,
        scheduler: str = "onecycle",
        milestones: Sequence[int] = (100, 150),
        gamma: float = 0.1,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if optimizer not in OPTIMIZERS:
            raise UserInputError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if scheduler not in SCHEDULERS:
            raise UserInputError(f"unknown scheduler {scheduler!r}; choose one of {', '.join(SCHEDULERS)}")
        check_range("lr", lr, above=0)
        check_range("momentum", momentum, low=0, high=1)
        check_range("weight_decay", weight_decay, low=0)
        check_range("gamma", gamma, above=0)
        check_range("label_smoothing", label_smoothing, low=0, high=1)
        check_range("num_classes", num_classes, low=1)
        check_range("in_channels", in_channels, low=1)
        self.save_hyperparameters()
        self.model = build_model(model, num_classes, in_channels, mean, std, **(model_kwargs or {}))
        self.criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self._rng_states_to_restore: list[dict] | None = None  # set when a checkpoint is loaded to resume
        self.train_acc, self.val_acc, self.test_acc = (
            MulticlassAccuracy(num_classes, average="micro") for _ in range(3)
        )
        # Sample-weighted means, synced by torchmetrics: exact over ranks that hold unequal shares.
        self.eval_loss = nn.ModuleDict({"val": MeanMetric(), "test": MeanMetric()})

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def training_loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """``(loss, logits)`` for a training batch; the logits feed ``train/acc``."""
        logits = self(x)
        return self.criterion(logits, y), logits

    def training_step(self, batch, batch_idx: int) -> Tensor:
        x, y = unpack_batch(batch)
        check_images(x, self.hparams.in_channels, f"training batch {batch_idx}")
        with shape_errors_named(x, self.hparams.model):
            loss, logits = self.training_loss(x, y)
        self.train_acc(logits.detach(), y)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def _evaluate(self, batch, stage: str, metric: MulticlassAccuracy) -> None:
        x, y = unpack_batch(batch)
        check_images(x, self.hparams.in_channels, f"{stage} images")
        with shape_errors_named(x, self.hparams.model):
            logits = self(x)
        metric(logits, y)
        self.eval_loss[stage].update(self.criterion(logits, y), weight=y.shape[0])
        self.log(f"{stage}/loss", self.eval_loss[stage])
        self.log(f"{stage}/acc", metric, prog_bar=True)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "val", self.val_acc)

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "test", self.test_acc)

    def on_fit_start(self) -> None:
        """Name the training method in the logger's config (``method``: the class), which the W&B
        dashboard groups runs by (``lightning_pse.dashboard``)."""
        for logger in self.loggers:
            logger.log_hyperparams({"method": type(self).__name__})

    def on_train_start(self) -> None:
        """On resume: continue the data order and the random sequences where the checkpoint left
        them (see ``resume`` and ``rng``). The generators are restored here, after Lightning's setup
        and sanity check have drawn their own random numbers, not when the checkpoint is read."""
        resume_train_loader(self.trainer)
        if self._rng_states_to_restore is not None:
            restore_rank_rng_states(self._rng_states_to_restore, self.global_rank)
            self._rng_states_to_restore = None

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Also save every process's random-generator states (see ``rng``) and the classes of this
        module and its data module (``checkpoints.recorded_class_path``: what analyze.py rebuilds)."""
        checkpoint["rng_states"] = gather_rng_states()
        datamodule = getattr(self.trainer, "datamodule", None)
        checkpoint["class_paths"] = {
            part: f"{type(obj).__module__}.{type(obj).__qualname__}"
            for part, obj in (("module", self), ("datamodule", datamodule))
            if obj is not None
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Keep the checkpoint's random-generator states for ``on_train_start`` (when it has them)."""
        self._rng_states_to_restore = checkpoint.get("rng_states")

    def configure_optimizers(self):
        h = self.hparams
        params = self.model.parameters()
        if h.optimizer == "sgd":
            opt = torch.optim.SGD(
                params,
                lr=h.lr,
                momentum=h.momentum,
                nesterov=h.nesterov and h.momentum > 0,
                weight_decay=h.weight_decay,
            )
        else:
            cls = torch.optim.Adam if h.optimizer == "adam" else torch.optim.AdamW
            opt = cls(params, lr=h.lr, weight_decay=h.weight_decay)
        if h.scheduler == "none":
            return opt
        if h.scheduler == "multistep":
            sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(h.milestones), h.gamma)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
        steps = int(self.trainer.estimated_stepping_batches)
        if h.scheduler == "onecycle":
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=h.lr, total_steps=steps)
        else:
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
