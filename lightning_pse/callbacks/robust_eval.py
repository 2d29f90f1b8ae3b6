"""``RobustEvalCallback``: accuracy under attack on a fixed probe set, per epoch."""

from __future__ import annotations

from ..attacks import Attack, presets
from ..sections import RobustnessSection, Section
from .schedule import ProbeCallback


class RobustEvalCallback(ProbeCallback):
    """Logs ``<split>/robust_acc`` (default ``val/robust_acc``): the share of probe samples still
    classified correctly under ``attack`` (samples misclassified clean count as errors), and
    ``<split>/probe_clean_acc`` on the same samples (``sections.RobustnessSection``).
    ``ModelCheckpoint(monitor="val/robust_acc")`` selects on it (keep ``every_n_epochs=1`` then, so
    every epoch has a value).

    Args:
        attack: default ``presets.robust_eval`` at the module's training radius, or the dataset's
            standard one (``presets.model_threat``): PGD-20, step ε/4, random start, stopping on each
            sample at its first adversarial point.
        every_n_epochs, num_samples, split, seed, batch_size: see ``ProbeCallback``.
    """

    def __init__(
        self,
        attack: Attack | None = None,
        every_n_epochs: int = 1,
        num_samples: int | None = 512,
        split: str = "val",
        seed: int = 0,
        batch_size: int = 128,
    ) -> None:
        super().__init__(every_n_epochs, num_samples, split, seed, batch_size)
        self.default_attack = attack is None
        self.use_attack(attack if attack is not None else presets.robust_eval(seed=seed))

    def use_attack(self, attack: Attack) -> None:
        self.attack = attack
        eps = attack.eps if attack.bounded else presets.UNBOUNDED_RADIUS[attack.norm]
        norm = attack.norm
        self.section = RobustnessSection(
            {"attack": attack}, norm, eps, seed=self.seed, prefix=self.split, check_gradients=False
        )

    def use_threat_model(self, norm: str, eps: float) -> None:
        if self.default_attack:
            self.use_attack(presets.robust_eval(eps, norm, self.seed))

    def sections(self) -> list[Section]:
        return [self.section]

    def attacks_used(self) -> list[Attack]:
        return [self.attack]
