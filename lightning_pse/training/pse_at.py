"""PSE-informed adversarial training (our method, ``docs/method.md`` §4; not the paper's setting)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..attacks import PGD, Attack, SteeredPGD
from ..data import ImageDataModule, shard_loader, unpack_batch
from ..errors import UserInputError
from ..models.capture import capture, resolve_layer
from ..models.state import batchnorm_statistics_kept, full_precision
from ..pse import PSEShares, UnitSensitivity, analyze_attack, unit_effects
from ..pse.units import spatial_mean, spatial_mean_activations
from .adversarial import PGDATModule


class PSEATModule(PGDATModule):
    """PGD-AT on the C&W margin whose inner attack leans on one of the margin's two mechanisms, and
    whose loss adds a penalty on the activation change of the most attack-sensitive units.

    Inner attack (``attacks.SteeredPGD``): the first PGD step ascends the split margin
    ``w_s·(−Z_y(x')) + w_p·max_{j≠y} Z_j(x')`` (suppression term + promotion term), every later
    step the margin ``max_{j≠y} Z_j − Z_y`` itself, so the budget the steered step costs is paid
    once, not on every step (``SteeredPGD`` says why a weighted split cannot be free).

    Loss: ``L = CE(f(x'), y) + λ · mean_{k∈U} |ā_k(x') − ā_k(x)|``, ``U`` the top ``unit_fraction``
    of units of ``unit_layer`` by sensitivity ``s_k``. The adversarial forward is the one PGD-AT
    makes (train mode, BatchNorm learns from ``x'`` only); the clean activations come from a second
    train-mode forward whose batch BatchNorm's running statistics do not keep.

    At the start of every epoch the module measures, on a fixed probe subset of the *training*
    split (sharded by rank, summed over ranks), the PSE energy shares ``E_s``, ``E_p`` and the unit
    sensitivities of a fixed *reference* attack (the unsteered margin PGD of the same budget, so the
    measurement does not feed on its own steering), then sets
    ``w = (1 − κ)·(1, 1) + κ·2·(E_s, E_p)/(E_s + E_p)`` and re-ranks ``U``. It logs the reference
    shares and, when steering, the shares of the steered attack with the weights of the epoch that
    ended, seeded like the reference (``pse_at/*``). Weights and
    ranking are buffers: saved in checkpoints and restored on resume. With ``steer=0`` and
    ``unit_penalty=0`` it is exactly ``PGDATModule(attack_loss="cw")`` (no measurement is made).

    Args:
        steer: κ ∈ [0, 1], how far the margin weights follow the measured shares (default 0.5).
        unit_penalty: λ ≥ 0, weight of the unit penalty (default 0.1).
        unit_layer: dotted name of the layer whose units are ranked (default: the feature layer).
        unit_fraction: share of the layer's units penalised (default 0.05, at least one unit).
        probe_samples: size of the per-epoch measurement's training subset.
        probe_batch_size: its batch size.
        probe_seed: which subset.
        estimator: PSE estimator of the measurement (default ``gradient``: cheap, first order).
        eps: the inner PGD's radius, as in ``PGDATModule``.
        steps: the inner PGD's steps.
        step_size: the inner PGD's step.
        norm: the inner PGD's norm.
        random_start: the inner PGD's random start.
        attack_loss: ``None`` or ``cw`` (the margin being split; anything else is refused).
        **kwargs: see ``ClassifierModule``.
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
        self.register_buffer("margin_weights", torch.ones(2))  # (w_s, w_p)
        # 1 on the penalised units; sized in ``setup`` from the data's images, or by a loaded state dict.
        self.register_buffer("unit_mask", torch.zeros(0))
        self.register_load_state_dict_pre_hook(_size_unit_mask_like_state)

    def setup(self, stage: str) -> None:
        """Size ``unit_mask`` to the unit layer's channel count on one training image of the data
        (whatever its size and channel count), once the radius is known (``RadiusFromData``)."""
        super().setup(stage)
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

    def build_attack(self) -> SteeredPGD:
        """The training attack, unseeded. It is built before the ``margin_weights`` buffer exists;
        ``training_loss`` points it at the buffer."""
        return self.steered_pgd()

    def steered_pgd(self, seed: int | None = None, margin_weights: Tensor | None = None) -> SteeredPGD:
        """``SteeredPGD`` with the module's inner budget; seeded for the per-epoch measurement, so
        that measuring draws nothing from the global generator."""
        h = self.hparams
        return SteeredPGD(
            eps=h.eps,
            steps=h.steps,
            step_size=self.inner_step(),
            norm=h.norm,
            random_start=h.random_start,
            seed=seed,
            margin_weights=margin_weights,
        )

    def reference_attack(self) -> PGD:
        """The unsteered margin PGD of the same budget, seeded: what the per-epoch shares are measured on."""
        return self.inner_pgd(loss="cw", seed=self.hparams.probe_seed)

    def training_loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        self.attack.margin_weights = self.margin_weights
        if self.hparams.unit_penalty == 0:
            return super().training_loss(x, y)
        x_adv = self.attack(self.model, x, y)
        with capture(self.unit_module) as outputs:
            logits = self(x_adv)
        with capture(self.unit_module) as clean_outputs, batchnorm_statistics_kept(self.model):
            self(x)
        penalty = unit_penalty(spatial_mean(outputs[0]), spatial_mean(clean_outputs[0]), self.unit_mask)
        self.log("train/unit_penalty", penalty)
        return self.criterion(logits, y) + self.hparams.unit_penalty * penalty, logits

    def on_train_epoch_start(self) -> None:
        h = self.hparams
        if h.steer == 0 and h.unit_penalty == 0:
            return
        self.attack.margin_weights = self.margin_weights
        with full_precision(self.device):
            energy, units = self.measure_probe(self.reference_attack(), units=True)
            seeded_twin = self.steered_pgd(h.probe_seed, self.margin_weights)
            steered = self.measure_probe(seeded_twin)[0] if h.steer > 0 else None
        self.margin_weights.copy_(steered_weights(energy, h.steer, self.margin_weights))
        self.unit_mask.copy_(top_units_mask(units, h.unit_fraction))
        logged = {
            "pse_at/suppression_weight": self.margin_weights[0],
            "pse_at/promotion_weight": self.margin_weights[1],
            "pse_at/reference_suppression_share": suppression_share(energy),
        }
        if steered is not None:
            logged["pse_at/steered_suppression_share"] = suppression_share(steered)
        self.log_dict(logged, on_epoch=True)

    def measure_probe(self, attack: Attack, units: bool = False) -> tuple[Tensor, Tensor | None]:
        """``((E_s, E_p), s [K] or None)`` of ``attack`` on the training probe subset, summed over
        ranks; the unit sensitivities ``s`` only when ``units``."""
        h = self.hparams
        probe = self.trainer.datamodule.probe_set(h.probe_samples, "train", h.probe_seed)
        shares = PSEShares().to(self.device)
        sensitivity = UnitSensitivity(self.unit_mask.numel()).to(self.device) if units else None
        for _, batch in shard_loader(probe, h.probe_batch_size, self.global_rank, self.trainer.world_size):
            x, y = (t.to(self.device) for t in unpack_batch(batch))
            attacked, pse = analyze_attack(self.model, attack, x, y, estimator=h.estimator, group_size=None)
            if pse is not None:
                shares.update(pse)
            if units:
                sensitivity.update(unit_effects(self.model, self.unit_module, x, attacked.x_adv))
        values = shares.compute()
        energy = torch.stack([values["suppression_energy"], values["promotion_energy"]]).float()
        return energy.to(self.device), None if sensitivity is None else sensitivity.compute()


def steered_weights(energy: Tensor, steer: float, current: Tensor) -> Tensor:
    """``(w_s, w_p) = (1 − κ)·(1, 1) + κ·2·(E_s, E_p)/(E_s + E_p)`` ``[2]`` from the energies
    ``(E_s, E_p)``; ``current`` when no energy was measured (nothing fooled)."""
    total = energy.sum()
    if total <= 0:
        return current
    return (1 - steer) + steer * 2 * energy / total


def suppression_share(energy: Tensor) -> Tensor:
    """``E_s / (E_s + E_p)`` (NaN when both are 0)."""
    return energy[0] / energy.sum()


def top_units_mask(sensitivity: Tensor, fraction: float) -> Tensor:
    """``[K]`` 0/1, 1 on the ``ceil(fraction·K)`` (at least one) most sensitive units."""
    mask = torch.zeros_like(sensitivity)
    mask[torch.topk(sensitivity, max(1, math.ceil(fraction * sensitivity.numel()))).indices] = 1
    return mask


def unit_penalty(adversarial: Tensor, clean: Tensor, mask: Tensor) -> Tensor:
    """``mean_b Σ_k m_k·|ā_k(x'_b) − ā_k(x_b)| / Σ_k m_k`` from spatial means ``[B, K]`` and the
    0/1 unit mask ``[K]`` (0 when no unit is masked)."""
    return ((adversarial - clean).abs() * mask).sum(dim=1).mean() / mask.sum().clamp(min=1)


def _size_unit_mask_like_state(module: PSEATModule, state_dict: dict, prefix: str, *args) -> None:
    """``load_state_dict`` pre-hook: a checkpoint's ``unit_mask`` sets the buffer's size (a module
    built outside a Trainer has not sized it yet)."""
    saved = state_dict.get(f"{prefix}unit_mask")
    if saved is not None and saved.shape != module.unit_mask.shape:
        module.unit_mask = torch.zeros_like(saved, device=module.unit_mask.device)
