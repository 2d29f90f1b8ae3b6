"""``analyze.py``: evaluate a checkpoint and write ``report.json`` and ``report.html``.

    python analyze.py --ckpt PATH [--config analysis.yaml] [--data.KEY VALUE ...] [--out DIR]
                      [--sections robustness,pse,cam,dissection,masking] [--num-samples N] [--wandb]

The model and data are rebuilt from the checkpoint's saved hyper-parameters (``--data.KEY`` to
override, e.g. ``--data.data_dir /datasets``); a mismatch between them is refused. Everything runs
on a deterministic probe subset of the test split (``--split``). ``--config`` is a YAML file whose
keys are these options (``num_samples``, ``sections``, ``split``, ``eps``, ``pse``, ``cam``,
``dissection``: ``layer``, ``num_concept_images``, ``quantile``, ``iou_threshold``, ``top_fraction``,
``random_draws``, ``broden_dir``, ``broden_categories``, ``fractions``) plus ``attacks`` /
``pse_attacks``: name → ``{class_path, init_args}`` and ``sensitivity_attack``: one
``{class_path, init_args}`` (classes of lightning_pse.attacks).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..attacks import Attack
from ..callbacks.pse import default_pse_attacks
from ..checkpoints import check_fits, load_datamodule, load_module, project_class, read_checkpoint
from ..data import unpack_batch
from ..data.stats import STANDARD_LINF_EPS
from ..errors import UserInputError
from . import figures
from .explain import ExplanationTally
from .html import render
from .network import check_settings, network_report, probe_batches, sensitivity_attack
from .robustness import RobustnessTally, default_attacks

SECTIONS = ("robustness", "pse", "cam", "dissection", "masking")
DEFAULT_SAMPLES = 64  # every section on the demo checkpoint in about 3.5 minutes on a 2-core CPU


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, dict]:
    parser = argparse.ArgumentParser(prog="analyze.py", description="Evaluate a checkpoint at every level.")
    parser.add_argument("--ckpt", required=True, help="checkpoint written by train.py")
    parser.add_argument("--config", help="YAML with analysis options and attacks")
    parser.add_argument("--out", help="output directory (default: <run>/analysis next to the checkpoint)")
    parser.add_argument("--sections", default=None, help=f"comma-separated, of {', '.join(SECTIONS)}")
    parser.add_argument("--num-samples", type=int, default=None,
                        help=f"probe samples (default {DEFAULT_SAMPLES}: fits 5 minutes on a 2-core CPU; raise it for "
                             f"numbers to quote)")
    parser.add_argument("--split", default=None, help="probe split (default test)")
    parser.add_argument("--eps", type=float, default=None, help="ℓ∞ ε (default: the model's training ε, else the "
                                                                "dataset's standard one)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--wandb", action="store_true", help="also log to a W&B run (offline unless configured)")
    args, rest = parser.parse_known_args(argv)
    overrides = {}
    while rest:
        key = rest.pop(0)
        if not key.startswith("--data.") or not rest:
            parser.error(f"unrecognized argument {key!r} (data overrides are --data.KEY VALUE)")
        overrides[key[len("--data."):]] = yaml.safe_load(rest.pop(0))
    return args, overrides


def load_config(path: str | None) -> dict:
    if path is None:
        return {}
    try:
        config = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise UserInputError(f"cannot read the analysis config {path}: {err}") from None
    known = {"num_samples", "sections", "split", "eps", "batch_size", "attacks", "pse_attacks", "pse", "cam",
             "dissection", "sensitivity_attack"}
    unknown = set(config) - known
    if unknown:
        raise UserInputError(f"unknown keys in {path}: {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    return config


def build_attacks(spec: dict) -> dict[str, Attack]:
    attacks = {}
    for name, entry in spec.items():
        if not isinstance(entry, dict) or "class_path" not in entry:
            raise UserInputError(f"attack {name!r} needs class_path (and init_args) in the config")
        attacks[name] = project_class(entry["class_path"], Attack)(**(entry.get("init_args") or {}))
    return attacks


def versions() -> dict[str, str]:
    """Versions of Python and the libraries whose behaviour shapes the numbers."""
    import platform

    import pytorch_lightning
    import torchvision

    from .. import __version__

    return {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
            "pytorch_lightning": pytorch_lightning.__version__, "lightning_pse": __version__}


def run(argv: list[str] | None = None) -> Path:
    started = time.perf_counter()
    args, overrides = parse_args(argv)
    config = load_config(args.config)
    sections = (args.sections or ",".join(config.get("sections", SECTIONS))).split(",")
    for section in sections:
        if section not in SECTIONS:
            raise UserInputError(f"unknown section {section!r}; choose from {', '.join(SECTIONS)}")
    check_settings(config.get("dissection", {}))
    checkpoint = read_checkpoint(args.ckpt)
    module = load_module(checkpoint)
    datamodule = load_datamodule(checkpoint, overrides)
    check_fits(module.hparams, datamodule, args.ckpt)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    model = module.model.to(device).eval()
    num_samples = args.num_samples or config.get("num_samples", DEFAULT_SAMPLES)
    split = args.split or config.get("split", "test")
    probe = datamodule.probe_set(num_samples, split=split)
    eps = args.eps or config.get("eps") or module.hparams.get("eps") or STANDARD_LINF_EPS.get(datamodule.stats_key, 8 / 255)
    attacks = build_attacks(config["attacks"]) if "attacks" in config else default_attacks(eps, datamodule.num_classes)
    pse_attacks = build_attacks(config["pse_attacks"]) if "pse_attacks" in config else default_pse_attacks()
    cam_kwargs = {"method": "cam", "layer": None, "threshold": 0.2, **config.get("cam", {})}
    robustness = RobustnessTally(attacks) if "robustness" in sections else None
    explain = ExplanationTally(pse_attacks, config.get("pse", {}), cam_kwargs, "cam" in sections) \
        if {"pse", "cam"} & set(sections) else None
    loader = DataLoader(probe, batch_size=args.batch_size or config.get("batch_size", 64))
    for batch in tqdm(loader, desc="analysing batches", unit="batch"):
        x, y = (t.to(device) for t in unpack_batch(batch))
        extras = {k: v.to(device) for k, v in batch.items() if k not in ("image", "label")} if isinstance(batch, dict) else {}
        if robustness:
            robustness.update(model, x, y)
        if explain:
            explain.update(model, x, y, extras)
    report = {"checkpoint": str(Path(args.ckpt).resolve()), "model": module.hparams.model,
              "training": type(module).__name__, "dataset": type(datamodule).__name__, "split": split,
              "num_samples": len(probe), "eps": eps, "sections": sections}
    figs: dict[str, bytes] = {}
    if robustness:
        report.update(robustness.report())
    if explain:
        if "pse" in sections:
            report["pse"] = explain.pse_report()
            psrs = {name: explain.image_psrs(name) for name in pse_attacks}
            figs["psr_histogram"] = figures.psr_histogram(psrs)
            figs["category_shares"] = figures.category_shares(report["pse"])
            for name, rows in explain.examples.items():
                if rows:
                    figs[f"examples/{name}"] = figures.image_grid(torch.cat(rows))
        if "cam" in sections:
            report["cam"] = explain.cam_report()
            if explain.cam_examples:
                figs["cam_overlays"] = figures.image_grid(torch.stack(explain.cam_examples))
    if {"dissection", "masking"} & set(sections):
        attack = build_attacks({"s": config["sensitivity_attack"]})["s"] if "sensitivity_attack" in config \
            else sensitivity_attack(eps)
        network, network_figs = network_report(model, datamodule, probe_batches(loader, device), attack,
                                               config.get("dissection", {}), sections)
        report.update(network)
        figs.update(network_figs)
    report["versions"] = versions()
    report["elapsed_seconds"] = time.perf_counter() - started
    out = Path(args.out) if args.out else Path(args.ckpt).resolve().parent.parent / "analysis"
    write_report(out, report, figs)
    if args.wandb:
        log_to_wandb(out, report, figs)
    return out


def write_report(out: Path, report: dict, figs: dict[str, bytes]) -> None:
    """Write ``report.json``, ``report.html`` and ``figures/*.png`` atomically: into a temporary
    directory beside ``out``, then moved in place, so an interrupted run leaves no partial report."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        (staging / "figures").mkdir()
        for name, png in figs.items():
            (staging / "figures" / f"{name.replace('/', '_')}.png").write_bytes(png)
        (staging / "report.json").write_text(json.dumps(report, indent=2))
        (staging / "report.html").write_text(render(report, figs))
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _flatten(prefix: str, value, into: dict) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}/{key}" if prefix else key, inner, into)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        into[prefix] = value


def log_to_wandb(out: Path, report: dict, figs: dict[str, bytes]) -> None:
    """The report's numbers and figures in a W&B run (offline unless W&B is configured)."""
    import wandb

    from ..wandb_logger import WandbLogger

    try:
        run = WandbLogger(project="lightning_pse", name=f"analyze-{Path(report['checkpoint']).stem}",
                          save_dir=str(out)).experiment
        scalars: dict = {}
        _flatten("analysis", {k: v for k, v in report.items() if k not in ("checkpoint",)}, scalars)
        run.log({**scalars, **{f"analysis/{name}": wandb.Image(str(out / "figures" / f"{name.replace('/', '_')}.png"))
                               for name in figs}})
        run.finish()
    except Exception as err:  # noqa: BLE001 - the report on disk is the product; W&B is a copy
        print(f"warning: could not log the report to W&B ({type(err).__name__}: {err})", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    try:
        out = run(argv)
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"report: {out / 'report.html'} (numbers in {out / 'report.json'})")
