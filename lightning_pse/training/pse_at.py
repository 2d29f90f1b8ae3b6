"""PSE-informed adversarial training (our method, ``docs/method.md`` §4; not the paper's setting)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..attacks.losses import other_max
from ..data import ImageDataModule, shard_loader, unpack_batch
from ..errors import UserInputError
from ..models.capture import capture, resolve_layer
from ..models.state import full_precision
from ..pse import PSEShares, UnitSensitivity, analyze_attack, unit_effects
from ..pse.units import spatial_mean, spatial_mean_activations
from .adversarial import PGDATModule


class PSEATModule(PGDATModule):
    """PGD-AT whose inner attack maximises the C&W margin split into its two mechanisms,

        ``f(x') = w_s·(−Z_y(x')) + w_p·max_{j≠y} Z_j(x')``   (suppression term + promotion term),

    and whose loss adds a penalty on the activation change of the most attack-sensitive units,

        ``L = CE(f(x'), y) + λ · mean_{k∈U} |ā_k(x') − ā_k(x)|``,

    with ``U`` the top ``unit_fraction`` of units of ``unit_layer`` by sensitivity ``s_k``.

    At the start of every epoch the module measures, on a fixed probe subset of the *training*
    split (sharded by rank, summed over ranks), the PSE energy shares ``E_s``, ``E_p`` of its own
    inner attack's successful examples and the unit sensitivities, then sets
    ``w = (1 − κ)·(1, 1) + κ·2·(E_s, E_p)/(E_s + E_p)`` (the inner attack leans on the mechanism
    the attacks currently exploit most) and re-ranks ``U``. Weights and ranking are buffers: they
    are saved in checkpoints and restored on resume. With ``steer=0`` and ``unit_penalty=0`` it is
    exactly ``PGDATModule(attack_loss="cw")`` (no measurement is made).

    Args:
        steer: κ ∈ [0, 1], how far the margin weights follow the measured shares (default 0.5).
        unit_penalty: λ ≥ 0, weight of the unit penalty (default 0.1). When positive, the clean
            and adversarial batches go through one train-mode forward together, so BatchNorm
            statistics see both.
        unit_layer: dotted name of the layer whose units are ranked (default: the feature layer).
        unit_fraction: share of the layer's units penalised (default 0.05, at least one unit).
        probe_samples, probe_batch_size, probe_seed: the per-epoch measurement's training subset.
        estimator: PSE estimator of the measurement (default ``gradient``: cheap, first order).
        eps, steps, step_size, norm, random_start: the inner PGD, as in ``PGDATModule``.
        attack_loss: ``None`` or ``cw`` (the margin being split; anything else is refused).
        other arguments: see ``ClassifierModule``.
    """

    def __init__(
        self,
        steer: float = 0.5,
        unit_penalty: float = 0.1,
        unit_layer: str | None = None,
        unit_fraction: float = 0.05,
        probe_samples: int = 256,
        probe_batch_size: int = 64,
        probe_seed: int = 0,
        estimator: str = "gradient",
        **kwargs,
    ) -> None:
        attack_loss = kwargs.pop("attack_loss", None)  # popped: the saved hyper-parameters say "cw"
        if attack_loss not in (None, "cw"):
            raise UserInputError(f"PSE-AT splits the C&W margin: attack_loss must be 'cw', got {attack_loss!r}")
        if not 0 <= steer <= 1 or unit_penalty < 0 or not 0 < unit_fraction <= 1:
            raise UserInputError(
                f"PSE-AT needs 0 ≤ steer ≤ 1, unit_penalty ≥ 0 and 0 < unit_fraction ≤ 1, got "
                f"steer={steer}, unit_penalty={unit_penalty}, unit_fraction={unit_fraction}"
            )
        super().__init__(attack_loss="cw", **kwargs)
        self.attack.objective_override = self.split_margin
        self.register_buffer("margin_weights", torch.ones(2))  # (w_s, w_p)
        # 1 on the penalised units; sized in ``setup`` from the data's images, or by a loaded state dict.
        self.register_buffer("unit_mask", torch.zeros(0))
        self.register_load_state_dict_pre_hook(_size_unit_mask_like_state)

    def setup(self, stage: str) -> None:
        """Size ``unit_mask`` to the unit layer's channel count on one training image of the data
        (whatever its size and channel count)."""
        if self.unit_mask.numel() > 0:
            return
        datamodule = self.trainer.datamodule
        if not isinstance(datamodule, ImageDataModule):
            raise UserInputError("PSE-AT measures a probe subset each epoch: pass an ImageDataModule to the Trainer")
        x = datamodule.example_image("train", self.hparams.probe_seed).to(self.device)
        num_units = spatial_mean_activations(self.model, self.unit_module, x).shape[1]
        self.unit_mask = torch.zeros(num_units, device=self.device)

    @property
    def unit_module(self) -> torch.nn.Module:
        """The layer whose units are ranked and penalised (``unit_layer``, default the feature layer)."""
        return resolve_layer(self.model, self.hparams.unit_layer)

    def split_margin(self, logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
        """The inner objective ``w_s·(−Z_y) + w_p·max_{j≠y} Z_j`` ``[B]``."""
        w_s, w_p = self.margin_weights
        return w_s * -logits.gather(1, y[:, None]).squeeze(1) + w_p * other_max(logits, y)

    def training_loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if self.hparams.unit_penalty == 0:
            return super().training_loss(x, y)
        x_adv = self.attack(self.model, x, y)
        with capture(self.unit_module) as outputs:
            logits = self(torch.cat([x_adv, x]))
        means = spatial_mean(outputs[0])
        b = x.shape[0]
        change = (means[:b] - means[b:]).abs()
        penalty = (change * self.unit_mask).sum(dim=1).mean() / self.unit_mask.sum().clamp(min=1)
        self.log("train/unit_penalty", penalty)
        return self.criterion(logits[:b], y) + self.hparams.unit_penalty * penalty, logits[:b]

    def on_train_epoch_start(self) -> None:
        h = self.hparams
        if h.steer == 0 and h.unit_penalty == 0:
            return
        with full_precision(self.device):
            energy, units = self.measure_probe()
        e_s, e_p = energy
        if e_s + e_p > 0:
            target = 2 * torch.stack([e_s, e_p]) / (e_s + e_p)
            self.margin_weights.copy_((1 - h.steer) + h.steer * target)
        num_units = self.unit_mask.numel()
        top = torch.topk(units, max(1, math.ceil(h.unit_fraction * num_units))).indices
        self.unit_mask.zero_()
        self.unit_mask[top] = 1
        self.log_dict(
            {"pse_at/suppression_weight": self.margin_weights[0], "pse_at/promotion_weight": self.margin_weights[1]},
            on_epoch=True,
        )

    def measure_probe(self) -> tuple[Tensor, Tensor]:
        """``((E_s, E_p), s [K])`` on the training probe subset, summed over ranks."""
        h = self.hparams
        probe = self.trainer.datamodule.probe_set(h.probe_samples, "train", h.probe_seed)
        shares = PSEShares().to(self.device)
        sensitivity = UnitSensitivity(self.unit_mask.numel()).to(self.device)
        for _, batch in shard_loader(probe, h.probe_batch_size, self.global_rank, self.trainer.world_size):
            x, y = (t.to(self.device) for t in unpack_batch(batch))
            attacked, pse = analyze_attack(self.model, self.attack, x, y, estimator=h.estimator, group_size=None)
            if pse is not None:
                shares.update(pse)
            sensitivity.update(unit_effects(self.model, self.unit_module, x, attacked.x_adv))
        values = shares.compute()
        energy = torch.stack([values["suppression_energy"], values["promotion_energy"]]).float()
        return energy.to(self.device), sensitivity.compute()


def _size_unit_mask_like_state(module: PSEATModule, state_dict: dict, prefix: str, *args) -> None:
    """``load_state_dict`` pre-hook: a checkpoint's ``unit_mask`` sets the buffer's size (a module
    built outside a Trainer has not sized it yet)."""
    saved = state_dict.get(f"{prefix}unit_mask")
    if saved is not None and saved.shape != module.unit_mask.shape:
        module.unit_mask = torch.zeros_like(saved, device=module.unit_mask.device)
