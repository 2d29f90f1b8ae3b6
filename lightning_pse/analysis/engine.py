"""Evaluate any model at every level: ``evaluate(model, data, sections=..., layer=...) -> report``.

``Analysis`` checks every prerequisite when it is built (sections, data, device, image size, the
model's class count, then each requested section's own: ``prerequisites``), so a run that would
fail fails in its first seconds; ``run()`` then passes one probe set through the requested
sections (``lightning_pse.sections``, the objects the per-epoch callbacks use), with a progress
bar per section and, under it, one per attack run advancing step by step (``lightning_pse.progress``;
one line per finished section instead when stderr is not a terminal or ``progress="lines"``);
sections that use the same attack share its run on each batch. ``analyze.py``
is a thin layer over this class.
"""

from __future__ import annotations

import datetime
import platform
import subprocess
import time
from collections.abc import Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Subset

from ..attacks import Attack, presets
from ..attacks.presets import ROBUSTNESS_MODES, robustness_attacks
from ..attacks.randomness import DEFAULT_EOT_SAMPLES, is_randomized, use_eot
from ..attacks.threat import NORMS, check_radius
from ..cam.settings import DEFAULT_CAM, CAMSettings
from ..checkpoints import project_class
from ..data import as_datamodule, shard_loader, unpack_batch
from ..data.datasets import check_images
from ..dissect import DEFAULT_DISSECTION, DissectionSettings
from ..errors import UserInputError
from ..models.capture import last_conv_layer, resolve_layer
from ..models.state import check_takes_images
from ..output import figures
from ..progress import resolve_mode, showing, stage
from ..pse import DEFAULT_PSE, PSESettings
from ..schemas import REPORT_SCHEMA_VERSION, check_report
from ..sections import (
    AttackRuns,
    ProbeBatch,
    Section,
)
from ..sections.autoattack import AUTOATTACK_ATTACKS
from ..sections.base import attack_radius_entry
from ..sections.verdicts import within_threat_model
from .findings import findings
from .registry import REGISTRY, SECTIONS, report_schema
from .spread import check_devices, run_spread

DEFAULT_SAMPLES = 64  # every section on the demo checkpoint in a few minutes on a 2-core CPU
QUICK_SAMPLES = 8  # probe images (and concept images) of a quick run: one small batch


def build_attacks(spec: dict) -> dict[str, Attack]:
    """``name → {class_path, init_args}`` (classes of ``lightning_pse.attacks``) as attacks."""
    attacks = {}
    for name, entry in spec.items():
        if not isinstance(entry, dict) or "class_path" not in entry:
            raise UserInputError(f"attack {name!r} needs class_path (and init_args) in the config")
        attacks[name] = project_class(entry["class_path"], Attack)(**(entry.get("init_args") or {}))
    return attacks


def resolve_device(name: str | torch.device | None) -> torch.device:
    """``auto`` (or None): CUDA when available, else CPU; ``cuda`` without a GPU is a user error."""
    if name is None or str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserInputError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserInputError(f"--device {name}: this machine has no CUDA GPU; use --device cpu (or auto)")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise UserInputError(f"--device {name}: this machine has {torch.cuda.device_count()} GPU(s)")
    return device


def settings_of(value, section: str):
    """``value`` when it is the settings object of ``section`` (``registry.REGISTRY[section].settings``);
    anything else is a ``UserInputError`` naming the class to pass."""
    cls = REGISTRY[section].settings
    if not isinstance(value, cls):
        raise UserInputError(f"{section}= takes a {cls.__name__} (e.g. {section}={cls.__name__}(...)), got {value!r}")
    return value


class Analysis:
    """One analysis of ``model`` (pixels in [0, 1] → logits) on ``data``'s probe set.

    Args:
        model: the model to analyse; it is left as it was (mode, weights, ``.grad``).
        data: an ``ImageDataModule``, ``(images [N, C, H, W] in [0, 1], labels [N])`` tensors, a
            ``Dataset`` of ``(image, label)`` tuples or ``{"image", "label"}`` dicts, or a
            ``DataLoader`` (``data.given.as_datamodule``); the class count is the model's output width
            where the data does not state one.
        sections: of ``robustness``, ``pse``, ``cam``, ``dissection``, ``masking``.
        layer: the layer of Grad-CAM and dissection (default: the model's feature layer, or the last
            conv layer for models without one); ``cam`` / ``dissection`` settings may name their own.
        num_samples: size of the probe set, a seeded subset of ``split`` (the whole split when it
            is smaller or this is None); 64 fits a few minutes on a 2-core CPU, raise it for
            numbers to quote.
        split: the split the probe set is drawn from (``train``, ``val``, ``test``).
        seed: which subset, and the attacks' seed.
        eps: the threat model's radius (default: the model's training radius when it was trained in
            ``norm``, else the dataset's standard radius for ``norm``).
        norm: the threat model's norm (``linf``, ``l2``, ``l1``; default: the model's training norm,
            else ``linf``).
        training: what is known of the model's training (``eps``, ``norm`` of an adversarial-training
            module's hyper-parameters; ``analysis.sources.ModelSource.training``); the threat model
            is resolved from it once, here (``presets.model_threat``).
        robustness: ``attacks`` (every attack of ``presets.autoattack_like`` on every sample, each
            with its own robust accuracy, C&W ℓ2 shared with the PSE section), ``cascade``
            (``presets.cascade``: each attack on what the earlier ones left robust; cheaper, not yet
            shown to be as strong, #44), or ``autoattack`` (our attacks and AutoAttack beside
            them, pyautoattack, in ``autoattack_version``; the worst case counts both).
        autoattack_version: AutoAttack's version: ``standard``, ``plus``, ``rand``, or ``auto``:
            ``rand`` for a randomized model (outputs vary between passes), else ``standard``.
        eot_samples: forward passes averaged per gradient by our attacks when the model is randomized
            (two forward passes of the first probe batch differ; ``attacks.randomness``); a
            deterministic model is attacked with one.
        batch_size: probe images per batch.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N`` (or a
            ``torch.device``).
        attacks: name → Attack (or an ``attacks.cascade.Cascade``), replacing the robustness
            section's default attacks; under ``robustness="cascade"`` they run as a cascade in the
            given order.
        pse_attacks: name → Attack, replacing the PSE and CAM sections' default attacks.
        sensitivity_attack: replaces the attack of unit sensitivity and masking.
        pse: the PSE section's settings (``pse.PSESettings``; the CAM section's categories too).
        cam: the CAM section's settings (``cam.CAMSettings``); ``method="cam"`` on a model without a
            GAP + linear head, or at another layer than its feature layer, runs ``grad_cam`` (the
            report's settings say so).
        dissection: the dissection and masking sections' settings (``dissect.DissectionSettings``).
        progress: ``bars`` (a bar per section and per attack run), ``lines`` (one line per finished
            section), or ``auto`` (bars on a terminal, else lines).
        devices: processes per node the probe batches are spread over, CPU processes or GPUs
            (``spread.py``; the report is the same as one process's). ``masking`` runs in one.
        num_nodes: nodes, under torchrun or SLURM's srun.
        quick: a smoke run: at most ``QUICK_SAMPLES`` probe images (and concept images), the
            robustness and sensitivity attacks at their smallest budget (``Attack.cheapest``; the
            PSE/CAM attacks keep theirs, so the few images still get explained adversarial
            examples): a real report in under a minute that checks everything runs; its numbers
            are not to be quoted (the report's notes say so).
        min_fooled: when the PSE or CAM section runs, grow the probe set by further batches of the
            split until the PSE attack inside the threat model that fools the most has fooled this
            many images, or the split is exhausted (``gather_fooled``); 0: the probe set as asked.
            Only the sections that judge fooled images (``Section.sees_gathered_images``: PSE,
            CAM) see the added images; the others measure the probe set as asked, so models
            analysed with the same ``num_samples`` have their robustness measured on the same
            images however many each needed to gather.
    """

    def __init__(
        self,
        model: nn.Module,
        data,
        sections=SECTIONS,
        layer: str | None = None,
        *,
        num_samples: int | None = DEFAULT_SAMPLES,
        split: Literal["train", "val", "test"] = "test",
        seed: int = 0,
        eps: float | None = None,
        norm: Literal["linf", "l2", "l1"] | None = None,
        training: Mapping | None = None,
        robustness: Literal["attacks", "cascade", "autoattack"] = "attacks",
        autoattack_version: Literal["auto", "standard", "plus", "rand"] = "auto",
        eot_samples: int = DEFAULT_EOT_SAMPLES,
        batch_size: int = 64,
        device: str = "auto",
        attacks: dict[str, Attack] | None = None,
        pse_attacks: dict[str, Attack] | None = None,
        sensitivity_attack: Attack | None = None,
        pse: PSESettings = DEFAULT_PSE,
        cam: CAMSettings = DEFAULT_CAM,
        dissection: DissectionSettings = DEFAULT_DISSECTION,
        progress: str = "auto",
        devices: int = 1,
        num_nodes: int = 1,
        min_fooled: int = 0,
        quick: bool = False,
    ) -> None:
        try:
            self.progress = resolve_mode(progress)
        except ValueError as err:
            raise UserInputError(str(err)) from None
        self.sections = [s for s in REGISTRY if s in sections]
        unknown = set(sections) - set(REGISTRY)
        if unknown or not self.sections:
            raise UserInputError(f"unknown or no sections {sorted(unknown)}; choose from {', '.join(REGISTRY)}")
        self.pse, self.cam, self.dissection = (
            settings_of(value, name) for name, value in (("pse", pse), ("cam", cam), ("dissection", dissection))
        )
        if norm is not None and norm not in NORMS:
            raise UserInputError(f"unknown norm {norm!r}; choose {', '.join(NORMS)}")
        if robustness not in ROBUSTNESS_MODES:
            raise UserInputError(f"unknown robustness mode {robustness!r}; choose {', '.join(ROBUSTNESS_MODES)}")
        if autoattack_version != "auto" and autoattack_version not in AUTOATTACK_ATTACKS:
            raise UserInputError(
                f"unknown AutoAttack version {autoattack_version!r}; choose auto, {', '.join(AUTOATTACK_ATTACKS)}"
            )
        if num_samples is not None and num_samples < 1:
            raise UserInputError(f"num_samples must be at least 1 (None: the whole split), got {num_samples}")
        if batch_size < 1:
            raise UserInputError(f"batch_size must be at least 1, got {batch_size}")
        if eot_samples < 1:
            raise UserInputError(f"eot_samples must be at least 1, got {eot_samples}")
        if min_fooled < 0:
            raise UserInputError(f"min_fooled must be 0 (off) or a number of images, got {min_fooled}")
        self.min_fooled = min_fooled
        self.gathered: tuple[list[ProbeBatch], list[AttackRuns]] | None = None
        self.gathering: dict | None = None  # what gather_fooled did, for the report
        self.device = resolve_device(device)
        check_devices(devices, num_nodes, self.device)
        self.devices, self.num_nodes = devices, num_nodes
        self.model = model.to(self.device).eval()
        data = as_datamodule(data)
        self.data, self.split, self.seed, self.batch_size = data, split, seed, batch_size
        self.norm, self.eps = presets.model_threat(training or {}, data, norm, eps)
        self.robustness = robustness
        self.quick = quick
        if quick:
            num_samples = min(num_samples or QUICK_SAMPLES, QUICK_SAMPLES)
            self.dissection = replace(
                self.dissection, num_concept_images=min(self.dissection.num_concept_images, QUICK_SAMPLES)
            )
        self.probe = data.probe_set(num_samples, split=split, seed=seed)
        self.asked = len(self.probe)  # the probe set as asked; ``gather_fooled`` may add images after it
        if len(self.probe) == 0:
            raise UserInputError(f"the {split} split is empty: nothing to analyse")
        self.num_classes = self._check_model_takes_images()
        check_radius(self.norm, self.eps, self.image_shape)
        self.attacks = robustness_attacks(robustness, attacks, self.eps, self.num_classes, self.norm, seed)
        self.pse_attacks = (
            pse_attacks if pse_attacks is not None else presets.pse_attacks(self.eps, seed=seed, norm=self.norm)
        )
        self.layer = self.resolve_layer(layer)
        self.sensitivity_attack = sensitivity_attack or presets.sensitivity(self.eps, self.norm, seed)
        if quick:
            self.attacks = Attack.all_cheapest(self.attacks)
            self.sensitivity_attack = self.sensitivity_attack.cheapest()
        self.randomized = is_randomized(self.model, self._first_batch())
        self.eot_samples = eot_samples if self.randomized else 1
        use_eot([*self.attacks.values(), *self.pse_attacks.values(), self.sensitivity_attack], self.eot_samples)
        if robustness != "autoattack":
            self.autoattack_version = None
        elif autoattack_version == "auto":
            self.autoattack_version = "rand" if self.randomized else "standard"
        else:
            self.autoattack_version = autoattack_version
        self.num_samples = num_samples
        self.dissection_layer = self.layer
        self.concepts = self.ranking_probe = self.ranking_split = None
        for name in self.sections:  # each section's own prerequisites (``prerequisites``)
            if REGISTRY[name].prepare is not None:
                REGISTRY[name].prepare(self)

    def portable(self) -> Analysis:
        """A copy to send to other processes: the probe sets as lists of their samples, without the
        data module (the whole dataset), which nothing after ``__init__`` reads."""
        copy = object.__new__(Analysis)
        copy.__dict__.update(self.__dict__)
        copy.data = None
        copy.probe = [self.probe[i] for i in range(len(self.probe))]
        if self.ranking_probe is not None:
            copy.ranking_probe = [self.ranking_probe[i] for i in range(len(self.ranking_probe))]
        return copy

    def _first_image(self) -> Tensor:
        """``[1, C, H, W]``: the probe set's first image, on the device."""
        item = self.probe[0]
        return (item["image"] if isinstance(item, dict) else item[0]).unsqueeze(0).to(self.device)

    def _first_batch(self) -> Tensor:
        """``[b, C, H, W]``: the probe set's first batch, on the device."""
        batch = next(iter(DataLoader(self.probe, batch_size=self.batch_size)))
        return unpack_batch(batch)[0].to(self.device)

    def _check_model_takes_images(self) -> int:
        """The model's class count, after one forward pass on a probe image (too small images,
        wrong channel counts and class counts that differ from the data's are user errors)."""
        x = self._first_image()
        check_images(x)
        self.image_shape = tuple(x.shape[1:])  # (C, H, W)
        return check_takes_images(self.model, x, self.data.num_classes, type(self.data).__name__)

    def resolve_layer(self, layer: str | None) -> str | None:
        """``layer`` checked, or None (the feature layer) for our models, or the last conv layer."""
        if layer is not None:
            resolve_layer(self.model, layer)
            return layer
        if hasattr(self.model, "feature_layer"):
            return None
        return last_conv_layer(self.model, self._first_image())

    def settings(self) -> dict:
        """What was asked, for the report and the W&B config."""
        return {
            "sections": self.sections,
            "num_samples": len(self.probe),
            "split": self.split,
            "probe_seed": self.seed,
            "eps": self.eps,
            "norm": self.norm,
            "robustness": self.robustness,
            "autoattack_version": self.autoattack_version,
            "eot_samples": self.eot_samples,
            "layer": self.layer,
            "cam": asdict(self.cam),
            "pse": asdict(self.pse),
            "dissection": asdict(self.dissection),
            "device": str(self.device),
            "devices": self.devices * self.num_nodes,
            "min_fooled": self.min_fooled,
            "quick": self.quick,
        }

    def batches(self, probe=None, rank: int = 0, world_size: int = 1, offset: int = 0) -> list[ProbeBatch]:
        """Rank ``rank``'s batches of ``probe`` (default: the probe set as asked) as ``ProbeBatch`` es
        on the device with their clean logits (``data.shard_batches``; all of them for one process),
        held in memory (each section passes over them); ``offset``: the probe position of
        ``probe``'s first image."""
        out = []
        probe = self.probe if probe is None else probe
        for positions, batch in shard_loader(probe, self.batch_size, rank, world_size):
            x, y = (t.to(self.device) for t in unpack_batch(batch))
            check_labels(y, self.num_classes)
            extras = (
                {k: v.to(self.device) for k, v in batch.items() if k not in ("image", "label")}
                if isinstance(batch, dict)
                else {}
            )
            out.append(ProbeBatch.of(self.model, x, y, extras, torch.tensor(positions) + offset))
        return out

    def probe_batches(self, rank: int = 0, world_size: int = 1) -> list[ProbeBatch]:
        """Rank ``rank``'s batches of the whole probe set: the images as asked, then those
        ``gather_fooled`` added, each part cut into batches on its own, so that no batch mixes the two
        and every image shares its batch with the same images on any number of ranks."""
        asked = Subset(self.probe, range(self.asked))
        added = Subset(self.probe, range(self.asked, len(self.probe)))
        return self.batches(asked, rank, world_size) + self.batches(added, rank, world_size, offset=self.asked)

    def finding_attacks(self) -> dict[str, Attack]:
        """The PSE/CAM attacks inside the threat model (bounded, at its norm and radius): the ones
        whose fooled images the findings judge."""
        threat = (self.norm, self.eps)
        return {name: a for name, a in self.pse_attacks.items() if within_threat_model(attack_radius_entry(a), threat)}

    def gather_fooled(self) -> dict | None:
        """``min_fooled``: attack the probe batches with the in-threat-model PSE attacks and, while
        the one that fooled the most has fooled fewer than ``min_fooled`` images, add a batch of
        further samples of the split (``probe_set``'s seeded order: a larger probe set holds the
        smaller one) until it has or the split is exhausted. The grown probe set replaces
        ``self.probe``; the batches and their attack runs are kept for the sections (one process), so
        no attack runs twice. Returns what the report says of it (None when off)."""
        named = self.finding_attacks()
        names, attacks = list(named), list(named.values())
        if not self.min_fooled or not attacks or not {"pse", "cam"} & set(self.sections):
            return None
        available, initial = len(self.data.split(self.split)), len(self.probe)
        with showing(self.progress), stage(f"gathering {self.min_fooled} fooled images", None):
            batches = self.batches(Subset(self.probe, range(self.asked)))
            runs = [AttackRuns(self.model, batch) for batch in batches]
            fooled = [sum(int(run.attacked(a).success.sum()) for run in runs) for a in attacks]
            while max(fooled) < self.min_fooled and len(self.probe) < available:
                grown = self.data.probe_set(len(self.probe) + self.batch_size, split=self.split, seed=self.seed)
                known = set(self.probe.indices)
                extra = Subset(self.probe.dataset, [i for i in grown.indices if i not in known])
                for batch in self.batches(extra, offset=len(self.probe)):
                    run = AttackRuns(self.model, batch)
                    fooled = [f + int(run.attacked(a).success.sum()) for f, a in zip(fooled, attacks)]
                    batches.append(batch)
                    runs.append(run)
                self.probe = Subset(self.probe.dataset, [*self.probe.indices, *extra.indices])
        self.gathered = batches, runs
        return {
            "asked": self.min_fooled,
            "fooled": max(fooled),
            "attack": names[fooled.index(max(fooled))],
            "initial": initial,
            "images": len(self.probe),
            "exhausted": max(fooled) < self.min_fooled,
        }

    def build_sections(self) -> list[Section]:
        """The requested sections, in report order, with this analysis's settings (``registry.REGISTRY``)."""
        return [REGISTRY[name].build(self) for name in self.sections]

    def run(self) -> tuple[dict, dict[str, bytes]] | None:
        """``(report, figures)``: the report dict (report.json) and name → PNG bytes; spread over
        ``devices × num_nodes`` processes when that is more than one (``None`` on the ranks other
        than 0 of a torchrun or SLURM launch)."""
        self.gathering = self.gather_fooled()
        if self.devices * self.num_nodes == 1:
            return self.run_shard(0, 1)
        self.gathered = None  # each process attacks its own share of the grown probe set
        return run_spread(self, self.devices, self.num_nodes)

    def run_shard(self, rank: int, world_size: int) -> tuple[dict, dict[str, bytes]]:
        """Rank ``rank`` of ``world_size``'s part: its probe batches through every section, whose
        ``compute`` syncs over the ranks, so the report is every rank's; the figures are drawn on
        rank 0 (empty elsewhere)."""
        if self.gathered is not None and world_size == 1:
            batches, runs = self.gathered
        else:
            batches = self.probe_batches(rank, world_size)
            runs = [AttackRuns(self.model, batch) for batch in batches]  # shared by the sections, per batch
        report: dict = {
            "schema_version": REPORT_SCHEMA_VERSION,
            "num_samples": len(self.probe),
            "split": self.split,
            "eps": self.eps,
            "norm": self.norm,
            "sections": self.sections,
            "settings": self.settings(),
            "randomized": self.randomized,
            "figure_errors": [],
        }
        if self.gathering is not None:
            report["gathered"] = self.gathering
        figs: dict[str, bytes] = {}
        for section in self.build_sections():
            section.reset(self.device, keep_examples=rank == 0)
            seen = [
                (batch, batch_runs)
                for batch, batch_runs in zip(batches, runs)
                if section.sees_gathered_images or bool((batch.index < self.asked).all())
            ]
            with showing(self.progress if rank == 0 else None), stage(section.name, len(seen)) as bar:
                for batch, batch_runs in seen:
                    section.update(self.model, batch, batch_runs)
                    bar.update()
                entries = section.compute(self.model, rank, world_size)
            report.update(entries)
            if rank == 0:
                for name, draw in section.figures(entries).items():
                    figures.draw(figs, report["figure_errors"], name, draw)
        report["findings"] = findings(report)
        return report, figs


def check_labels(labels: Tensor, num_classes: int) -> None:
    """Labels ``[B]`` must be class indices of the model's ``num_classes`` outputs."""
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise UserInputError(
            f"the data's labels run from {int(labels.min())} to {int(labels.max())} but the model has "
            f"{num_classes} classes (labels 0..{num_classes - 1}): pass the labels the model was trained on"
        )


def evaluate(model: nn.Module, data, sections=SECTIONS, layer: str | None = None, **settings) -> dict | None:
    """Evaluate ``model`` (any ``nn.Module`` taking pixels in [0, 1], returning logits) on ``data``'s
    probe set (``data``: tensors ``(x, y)``, a Dataset, a DataLoader or an ImageDataModule; see
    ``Analysis``) and return the report dict (what ``analyze.py`` writes to report.json, without the
    figures). ``settings``: see ``Analysis`` (``devices=N`` spreads the work over N processes). The
    model is left as it was (mode, weights, ``.grad``). ``None`` on the ranks other than 0 of a
    torchrun or SLURM launch."""
    started = time.perf_counter()
    training = [(m, m.training) for m in model.modules()]
    try:
        analysis = Analysis(model, data, sections, layer, **settings)
        result = analysis.run()
    finally:
        for module, flag in training:
            module.training = flag
    return None if result is None else assemble_report(analysis, result[0], started=started)


def assemble_report(analysis: Analysis, body: dict, header: dict | None = None, started: float | None = None) -> dict:
    """The report.json dict of ``evaluate()`` and ``analyze.py``: ``header`` (what the model and data
    are: checkpoint, model, dataset, source), the analysis's ``body`` (``Analysis.run``), its
    provenance and, from ``started`` (a ``time.perf_counter()`` reading), ``elapsed_seconds``;
    checked against the report schema (``registry.report_schema``)."""
    report = {**(header or {}), **body, "provenance": provenance(analysis.seed, analysis.device)}
    if started is not None:
        report["elapsed_seconds"] = time.perf_counter() - started
    check_report(report, report_schema())
    return report


def provenance(seed: int, device: torch.device) -> dict:
    """Date, device, library versions and the code's git commit (when in a checkout)."""
    import pytorch_lightning
    import torchvision

    from .. import __version__

    out = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "probe_seed": seed,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.machine()})",
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "pytorch_lightning": pytorch_lightning.__version__,
            "lightning_pse": __version__,
        },
    }
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=5
        )
        if commit.returncode == 0:
            out["git_commit"] = commit.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return out
