"""``SectionCallback``: a per-epoch callback that measures one section with a set of attacks."""

from __future__ import annotations

from ..attacks import Attack
from ..sections import Section
from .schedule import ProbeCallback


class SectionCallback(ProbeCallback):
    """Measures one section (``lightning_pse.sections``) on the probe set at ``ProbeCallback``'s
    schedule. The section is built in ``setup``, once the threat model is known (the module's
    training radius, or the dataset's standard one: ``presets.model_threat``), so attacks left to
    their default are made once, at that radius. A subclass names its section and its default
    attacks (``default_attacks``, ``build_section``) and nothing else.

    Args:
        attacks: name → attack (None: the subclass's ``default_attacks`` at the threat model).
        every_n_epochs: see ``ProbeCallback``.
        num_samples: see ``ProbeCallback``.
        split: see ``ProbeCallback``.
        seed: see ``ProbeCallback``.
        batch_size: see ``ProbeCallback``.
    """

    def __init__(
        self,
        attacks: dict[str, Attack] | None = None,
        every_n_epochs: int = 1,
        num_samples: int | None = 256,
        split: str = "val",
        seed: int = 0,
        batch_size: int = 64,
    ) -> None:
        super().__init__(every_n_epochs, num_samples, split, seed, batch_size)
        self.attacks = attacks
        self.section: Section | None = None  # built in ``setup`` (``use_threat_model``)

    def default_attacks(self, norm: str, eps: float) -> dict[str, Attack]:
        """The attacks measured when none are given, at the threat model ``(norm, eps)``."""
        raise NotImplementedError

    def build_section(self, attacks: dict[str, Attack], norm: str, eps: float) -> Section:
        """The section measuring ``attacks`` under the threat model ``(norm, eps)``."""
        raise NotImplementedError

    def use_threat_model(self, norm: str, eps: float) -> None:
        attacks = self.attacks if self.attacks is not None else self.default_attacks(norm, eps)
        self.section = self.build_section(attacks, norm, eps)

    def use_cheapest_attacks(self) -> None:
        """The section's attacks at their smallest budget, each judged where the original was."""
        self.section.attacks = Attack.all_cheapest(self.section.attacks)

    def attacks_used(self) -> list[Attack]:
        return list(self.section.attacks.values())

    def sections(self) -> list[Section]:
        return [self.section]
