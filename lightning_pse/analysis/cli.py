"""``analyze.py``: evaluate a model and write ``report.json`` and ``report.html``.

    python analyze.py --ckpt RUN/checkpoints/last.ckpt
    python analyze.py --model.name resnet18_cifar --model.weights sd.pt --data lightning_pse.data.CIFAR10DataModule
    python analyze.py --model robustbench:Wong2020Fast --dataset cifar10 --threat_model Linf --model_dir models

Options (``python analyze.py --help``, ``--print_config``) are parsed like ``train.py``'s; see
``options.py``. The steps: parse → data and model (``sources.py``) → output folder checked
(``output.py``) → every prerequisite checked (``engine.Analysis``) → sections → report written
atomically → optional W&B run → summary printed. Bad input is one ``error:`` line and exit 2.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

from ..data.stats import standard_eps
from ..errors import UserInputError
from ..output.folder import check_out, default_out, log_to_wandb, write_report
from ..output.html import render
from ..output.text import format_eps
from .engine import Analysis, build_attacks, provenance
from .options import parse, sections_of
from .sources import ModelSource, load_source
from .sources import data_default as source_data


def threat_model(options, source: ModelSource, datamodule) -> tuple[str, float]:
    """``(norm, ε)``: the options' where given (zero included), else the model's training settings,
    else the dataset's standard ℓ∞ radius."""
    norm = options.norm or source.training.get("norm") or "linf"
    if options.eps is not None:
        return norm, options.eps
    if source.training.get("norm") == norm and source.training.get("eps") is not None:
        return norm, float(source.training["eps"])
    return norm, standard_eps(datamodule, norm)


def model_name(source: ModelSource) -> str:
    if source.kind == "checkpoint":
        return str(source.provenance["hyper_parameters"].get("model"))
    if source.kind == "robustbench":
        return f"robustbench:{source.provenance['robustbench_name']}"
    return str(source.provenance.get("architecture", source.label))


def instantiate_data(options):
    """The data module the options name (the checkpoint's by default)."""
    if options.data is None:
        raise UserInputError(
            "name the data the model was trained on: --data CLASS --data.data_dir DIR (e.g. --data "
            "lightning_pse.data.CIFAR10DataModule)"
        )
    module_name, _, name = options.data.class_path.rpartition(".")
    cls = getattr(importlib.import_module(module_name), name)
    init_args = options.data.init_args
    return cls(**(init_args.as_dict() if hasattr(init_args, "as_dict") else dict(init_args or {})))


def build_analysis(options, source: ModelSource, datamodule) -> Analysis:
    norm, eps = threat_model(options, source, datamodule)
    sensitivity = options.sensitivity_attack
    return Analysis(
        source.model,
        datamodule,
        sections_of(options),
        num_samples=options.num_samples,
        split=options.split,
        seed=options.seed,
        eps=eps,
        norm=norm,
        robustness=options.robustness,
        batch_size=options.batch_size,
        device=options.device,
        attacks=build_attacks(options.attacks) if options.attacks is not None else None,
        pse_attacks=build_attacks(options.pse_attacks) if options.pse_attacks is not None else None,
        sensitivity_attack=build_attacks({"sensitivity": sensitivity})["sensitivity"] if sensitivity else None,
        pse=_as_dict(options.pse),
        cam=_as_dict(options.cam),
        dissection=_as_dict(options.dissection),
    )


def _as_dict(value) -> dict:
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return dict(vars(value)) if not isinstance(value, dict) else dict(value)


def run(argv: list[str] | None = None) -> Path:
    started = time.perf_counter()
    options = parse(argv, source_data)
    datamodule = instantiate_data(options)
    source = load_source(options, datamodule)
    out = check_out(Path(options.out) if options.out else default_out(source.files, source.label), source.files)
    analysis = build_analysis(options, source, datamodule)
    print(
        f"analysing {model_name(source)} ({source.kind}) on {len(analysis.probe)} {analysis.split} images of "
        f"{type(datamodule).__name__}, {analysis.norm} ε = {format_eps(analysis.eps)}, sections "
        f"{', '.join(analysis.sections)}; report in {out}",
        file=sys.stderr,
    )
    body, figures = analysis.run()
    report = {
        "checkpoint": str(source.files[0]) if source.files else source.label,
        "model": model_name(source),
        "dataset": type(datamodule).__name__,
        "source": {"kind": source.kind, "label": source.label, "training": source.training, **source.provenance},
        **body,
        "provenance": provenance(analysis.seed, analysis.device),
    }
    report["elapsed_seconds"] = time.perf_counter() - started
    write_report(out, report, figures, render)
    if options.wandb:
        line = log_to_wandb(out, report, figures, analysis.settings())
        if line:
            print(line)
    print(summary(report))
    return out


def summary(report: dict) -> str:
    """The headline numbers, for the terminal."""
    lines = []
    if "clean" in report:
        threat = report["threat_model"]
        lines.append(f"clean accuracy {_rate(report['clean'])}")
        for name, attack in report["attacks"].items():
            lines.append(
                f"  {name:<10} robust accuracy {attack['robust_accuracy']:.3f} "
                f"[{attack['robust_accuracy_ci95'][0]:.3f}, {attack['robust_accuracy_ci95'][1]:.3f}] "
                f"({attack['robust']}/{attack['n']}; {attack['norm']} ε = {attack['eps_text']})"
            )
        lines.append(
            f"worst case over the {threat['norm']} ε = {threat['eps_text']} attacks {_rate(report['worst_case'])}"
        )
        if "autoattack" in report:
            lines.append(f"AutoAttack (standard) {_rate(report['autoattack'])}")
        lines.extend(f"warning: {w}" for w in report.get("warnings", []) + report.get("sanity", []))
    for name, pse in report.get("pse", {}).items():
        if name != "ground_truth" and pse["image_type_shares"]["suppression"] is not None:
            shares = ", ".join(f"{k} {v:.2f}" for k, v in pse["image_type_shares"].items())
            lines.append(f"PSE {name}: {pse['num_analyzed']} fooled images; {shares}")
    if "dissection" in report:
        d = report["dissection"]
        lines.append(
            f"dissection {d['layer']}: {d['interpretable_units']}/{d['num_units']} interpretable units, "
            f"Spearman(sensitivity, IoU) = {d['spearman_sensitivity_iou']:.3f}"
        )
    return "\n".join(lines)


def _rate(entry: dict) -> str:
    return f"{entry['value']:.3f} [{entry['ci95'][0]:.3f}, {entry['ci95'][1]:.3f}] ({entry['count']}/{entry['n']})"


def main(argv: list[str] | None = None) -> None:
    try:
        out = run(argv)
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"report: {out / 'report.html'} (numbers in {out / 'report.json'})")
