"""The section interface: one object per analysis level, two doors (callbacks and ``analyze.py``).

A section holds its numbers in torchmetrics states (so DDP ranks sync in ``compute``), and

- ``update(model, batch, runs)`` adds one probe batch (``ProbeBatch``); attacks go through
  ``runs`` (``AttackRuns``), which runs each attack once per batch however many sections ask;
- ``compute(model, rank, world_size) -> dict`` returns the section's entries of ``report.json``
  (synced over ranks; a section with work of its own on other data, e.g. dissection's concept
  pass, does it here on this rank's shard);
- ``scalars(report) -> dict`` the per-epoch numbers a callback logs (``pse/pgd/suppression_share``);
- ``figures(report) -> dict`` name → PNG bytes, drawn from the report and the few examples kept on
  the rank that draws (``keep_examples``); ``tables(report)`` name → ``(columns, rows)``;
- ``html(report, figures)`` and ``summary(report)`` (class methods, so a saved report renders
  without the section's attacks): its block of report.html and its terminal lines;
- ``report_schema``: the JSON Schema of the report keys it writes (and of its findings), from
  which the shipped report schema is assembled (``analysis.registry.report_schema``);
- ``findings(report, threat)``, ``finding_rows(findings)`` and ``notes(report)``: its findings
  rule (``verdicts``), its rows of the findings table and its sentences beside them;
- ``comparison_columns`` and ``comparison(report, attack)``: its columns of a comparison of
  checkpoints (``analysis.compare``), each a ``Cell`` with its sample and interval.

A new metric touches one room: the section's file.

A callback only decides *when* (``callbacks.SectionCallback``) and logs; ``analyze.py`` only
decides *which* sections and writes the report; both call these methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric, SumMetric

from ..attacks import Attack, AttackResult
from ..models.state import eval_mode
from ..pse import PSEResult, PSESettings, analyze


@dataclass(frozen=True)
class Column:
    """A column a section adds to a comparison of checkpoints: its table title and what it measures
    (the correlation table's row name)."""

    title: str
    meaning: str


@dataclass(frozen=True)
class Cell:
    """One checkpoint's value of a comparison column: ``value`` (None where the report lacks it),
    ``n`` the sample it rests on, ``min_n`` the minimum of the finding it belongs to (below it the
    value is shown greyed and left out of the correlations), ``ci95`` its interval where the
    section gives one."""

    value: float | None
    n: int
    min_n: int
    ci95: list[float] | None = None


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

    @classmethod
    def of(
        cls, model: nn.Module, x: Tensor, y: Tensor, extras: dict[str, Tensor] | None = None, index: Tensor | int = 0
    ) -> ProbeBatch:
        """A batch with its clean logits (``model`` in eval mode, no gradients); ``index``: the
        samples' probe positions ``[B]``, or the first of consecutive ones."""
        with eval_mode(model), torch.no_grad():
            logits = model(x)
        if isinstance(index, int):
            index = torch.arange(index, index + len(y))
        return cls(index.to(x.device), x, y.to(x.device), logits, dict(extras or {}))

    def __len__(self) -> int:
        return self.index.shape[0]

    @property
    def correct(self) -> Tensor:
        """``[B]`` bool: the clean prediction is the true label."""
        return self.logits.argmax(dim=1) == self.y

    def select(self, keep: Tensor) -> ProbeBatch:
        """The samples where ``keep`` ``[B]`` (bool) is true."""
        return ProbeBatch(
            self.index[keep],
            self.x[keep],
            self.y[keep],
            self.logits[keep],
            {name: value[keep] for name, value in self.extras.items()},
        )


class AttackRuns:
    """The attacks run on one probe batch's correctly classified samples, each at most once.

    Sections ask ``attacked(attack)`` (``AttackResult`` over ``batch.select(batch.correct)``) and
    ``pse(attack, settings)`` (``(AttackResult, PSEResult of the successful samples or None)``);
    an attack asked for twice, by the same object or by an equal one (same class and settings,
    ``repr``; attacks are deterministic for a fixed ``seed``), is run once, and so is a PSE
    analysis with equal settings. Attacks without a seed are shared only by identity.
    """

    def __init__(self, model: nn.Module, batch: ProbeBatch) -> None:
        self.model = model
        self.batch = batch.select(batch.correct)
        self._results: dict[object, AttackResult] = {}
        self._pse: dict[tuple, PSEResult | None] = {}

    @staticmethod
    def key(attack: Attack) -> object:
        return repr(attack) if attack.seed is not None else id(attack)

    def attacked(self, attack: Attack) -> AttackResult:
        key = self.key(attack)
        if key not in self._results:
            self._results[key] = attack.run(self.model, self.batch.x, self.batch.y)
        return self._results[key]

    def pse(self, attack: Attack, settings: PSESettings) -> tuple[AttackResult, PSEResult | None]:
        """``pse.analyze_attack`` on the correct samples with ``settings``, shared."""
        result = self.attacked(attack)
        key = (self.key(attack), settings)
        if key not in self._pse:
            won = result.success
            self._pse[key] = (
                analyze(
                    self.model,
                    self.batch.x[won],
                    result.x_adv[won],
                    self.batch.y[won],
                    result.aim[won],
                    **settings.kwargs(),
                )
                if won.any()
                else None
            )
        return result, self._pse[key]


class Section:
    """Base class of the sections (see the module docstring). Subclasses register their
    torchmetrics states with ``add_metric`` and implement ``update`` and ``compute``."""

    name = "section"
    # Whether ``analyze.py --min_fooled`` hands this section the images gathered after the probe set
    # as asked: the sections that judge fooled images (PSE, CAM) need them; the others measure the
    # probe set as asked.
    sees_gathered_images = False
    # The JSON Schema of the report keys the section writes: ``{"properties": {key: schema},
    # "findings": {key: schema}}`` (its entries of the top level and of the findings block).
    report_schema: dict = {}
    comparison_columns: dict[str, Column] = {}  # column key → Column, in table order

    def __init__(self) -> None:
        self._metrics: list[Metric] = []
        self.keep_examples = True  # keep a few images for ``figures`` (a callback: global rank 0 only)

    def add_metric(self, metric: Metric) -> Metric:
        self._metrics.append(metric)
        return metric

    def reset(self, device: torch.device, keep_examples: bool = True) -> None:
        """Empty every state (on ``device``) and the kept examples, before a pass over a probe set."""
        for metric in self._metrics:
            metric.to(device).reset()
            if isinstance(metric, (SumMetric, MeanMetric)):  # a pass with no sample: 0 / NaN, no warning
                metric.update(torch.zeros(0, device=device))
        self.keep_examples = keep_examples
        self.clear_examples()

    def clear_examples(self) -> None:
        """Drop the images kept for figures (subclasses that keep some override this)."""

    def update(self, model: nn.Module, batch: ProbeBatch, runs: AttackRuns) -> None:
        raise NotImplementedError

    def compute(self, model: nn.Module, rank: int = 0, world_size: int = 1) -> dict:
        raise NotImplementedError

    def scalars(self, report: dict) -> dict[str, float]:
        return {}

    def media_prefix(self, report: dict) -> str:
        """Where a callback logs this section's figures and tables (``<prefix>/<name>``)."""
        return self.name

    def figures(self, report: dict) -> dict[str, object]:
        """Name → a function returning PNG bytes (drawn by the caller, whose failures are reported
        and never lose the numbers)."""
        return {}

    def tables(self, report: dict) -> dict[str, tuple[list[str], list[list]]]:
        return {}

    @classmethod
    def html(cls, report: dict, figures: dict[str, bytes]) -> list[str]:
        """The section's block of report.html, drawn from its entries in ``report`` (the whole
        report.json dict) and ``figures`` (name → PNG bytes)."""
        return []

    @classmethod
    def summary(cls, report: dict) -> list[str]:
        """The section's lines of the terminal summary, from its entries in ``report``."""
        return []

    @classmethod
    def findings(cls, report: dict, threat: tuple[str, float] | None) -> dict:
        """The section's entries of the report's findings block, judged from its entries in
        ``report`` (only attacks inside the ``threat`` model ``(norm, ε)`` carry verdicts)."""
        return {}

    @classmethod
    def finding_rows(cls, findings: dict) -> list[list]:
        """Its rows ``[claim, effect, interval, n, minimum n, verdict]`` of the findings table (page
        and terminal), from the findings block; findings with no sample at all are left out."""
        return []

    @classmethod
    def notes(cls, report: dict) -> list[str]:
        """Sentences a reader needs beside its findings (e.g. an attack that fooled nothing)."""
        return []

    @classmethod
    def comparison(cls, report: dict, attack: str | None) -> dict[str, Cell]:
        """Per ``comparison_columns`` key: the report's ``Cell`` (value None where the report lacks
        the section); ``attack``: the bounded attack the per-attack columns come from."""
        return {}

    @classmethod
    def bounded_fooled(cls, report: dict) -> dict[str, int]:
        """Images fooled by each of its bounded attacks, from which a comparison picks the attack of
        its per-attack columns (``analysis.compare.chosen_attack``); empty for a section without
        per-attack columns."""
        return {}


def nan_if_none(value: float | None) -> float:
    """A report value as a loggable number (``None``: nothing was measured → NaN)."""
    return float("nan") if value is None else float(value)


def item_or_none(value: Tensor) -> float | None:
    """A 0-d tensor as a float, ``None`` for NaN (a mean over nothing)."""
    number = float(value)
    return None if number != number else number


def attack_radius_entry(attack: Attack) -> dict:
    """What a section's report says of an attack's radius, for the findings to judge whether it is
    inside the threat model: ``bounded``, ``norm`` and ``eps`` (None for an unbounded attack such
    as C&W, which succeeds at whatever distance it needs)."""
    return {"bounded": bool(attack.bounded), "norm": attack.norm, "eps": float(attack.eps) if attack.bounded else None}
