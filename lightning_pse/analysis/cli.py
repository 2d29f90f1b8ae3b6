"""``analyze.py``: evaluate a model and write ``report.json`` and ``report.html``.

    python analyze.py --ckpt RUN/checkpoints/last.ckpt
    python analyze.py --ckpt A.ckpt B.ckpt C/report.json --out cmp/   (a comparison, ``compare.py``)
    python analyze.py --model.name resnet18_cifar --model.weights sd.pt --data lightning_pse.data.CIFAR10DataModule
    python analyze.py --model robustbench:Wong2020Fast --dataset cifar10 --threat_model Linf --model_dir models

Options (``python analyze.py --help``, ``--print_config``) are parsed like ``train.py``'s; see
``options.py``. The steps: parse once → the checkpoint read once → the data settled (the
checkpoint's unless named; ``--data.KEY`` on top) → data and model (``sources.py``) → output folder checked
(``output.folder``) → every prerequisite checked (``engine.Analysis``) → sections → report written
atomically → optional W&B run → summary printed. Bad input is one ``error:`` line and exit 2.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

from ..argparsing import invoked_as
from ..checkpoints import read_checkpoint
from ..errors import UserInputError
from ..output.figures import correlation_figure, draw, trend_figure
from ..output.folder import check_out, default_out, log_to_wandb, within, write_report
from ..output.html import render_comparison
from ..output.text import format_eps
from ..schemas import REPORT_SCHEMA_VERSION
from .compare import compare, robust_pairs, series
from .engine import Analysis, assemble_report, build_attacks
from .options import Command, analysis_settings, parse, printable, sections_of, settle_data
from .registry import page, summary
from .sources import ModelSource, data_default, load_source, model_checkpoint, recorded_data


def model_name(source: ModelSource) -> str:
    if source.kind == "checkpoint":
        return str(source.provenance["hyper_parameters"].get("model"))
    if source.kind == "robustbench":
        return f"robustbench:{source.provenance['robustbench_name']}"
    return str(source.provenance.get("architecture", source.label))


def instantiate_data(options):
    """The data module the options name (the checkpoint's by default)."""
    if options.data is None:
        if options.ckpt is None and options.model.name is None:
            raise UserInputError(
                "name a model: --ckpt FILE (a train.py checkpoint), --model.name ARCH --model.weights FILE, "
                f"or --model robustbench:NAME (see {invoked_as('analyze')} --help)"
            )
        raise UserInputError(
            "name the data the model was trained on: --data CLASS --data.data_dir DIR (e.g. --data "
            "lightning_pse.data.CIFAR10DataModule)"
        )
    module_name, _, name = options.data.class_path.rpartition(".")
    cls = getattr(importlib.import_module(module_name), name)
    init_args = options.data.init_args
    return cls(**(init_args.as_dict() if hasattr(init_args, "as_dict") else dict(init_args or {})))


def build_analysis(options, source: ModelSource, datamodule) -> Analysis:
    """The ``Analysis`` the options ask for: its own keywords as parsed (``options.analysis_settings``),
    and those whose command-line forms differ (sections, ε, the attack specs, ``--quiet``)."""
    sensitivity = options.sensitivity_attack
    return Analysis(
        source.model,
        datamodule,
        sections_of(options),
        eps=options.eps,
        quick=options.quick,
        training=source.training,
        attacks=build_attacks(options.attacks) if options.attacks is not None else None,
        pse_attacks=build_attacks(options.pse_attacks) if options.pse_attacks is not None else None,
        sensitivity_attack=build_attacks({"sensitivity": sensitivity})["sensitivity"] if sensitivity else None,
        progress="lines" if options.quiet else "auto",
        **analysis_settings(options),
    )


def run(options, checkpoint: dict | None = None) -> Path | None:
    """Analyse the one model ``options`` name (settled ``analyze.py`` options; ``checkpoint``: its
    ``--ckpt`` already read) and write its report (``None``: this process is a rank other than 0 of
    a torchrun or SLURM launch, which leaves the writing to rank 0)."""
    started = time.perf_counter()
    datamodule = instantiate_data(options)
    source = load_source(options, datamodule, checkpoint)
    out = check_out(Path(options.out) if options.out else default_out(source.files, source.label), source.files)
    analysis = build_analysis(options, source, datamodule)
    if options.num_samples is not None and len(analysis.probe) < options.num_samples and not options.quick:
        print(
            f"note: --num_samples {options.num_samples} is more than the {analysis.split} split holds: "
            f"analysing all {len(analysis.probe)} of its images",
            file=sys.stderr,
        )
    print(
        f"analysing {model_name(source)} ({source.kind}) on {len(analysis.probe)} {analysis.split} images of "
        f"{type(datamodule).__name__}, {analysis.norm} ε = {format_eps(analysis.eps)}, sections "
        f"{', '.join(analysis.sections)}; report in {out}",
        file=sys.stderr,
    )
    result = analysis.run()
    if result is None:
        return None
    body, figures = result
    header = {
        "checkpoint": str(source.files[0]) if source.files else source.label,
        "model": model_name(source),
        "dataset": type(datamodule).__name__,
        "source": {"kind": source.kind, "label": source.label, "training": source.training, **source.provenance},
    }
    report = assemble_report(analysis, body, header, started)
    write_report(out, report, figures, page)
    if options.wandb:
        line = log_to_wandb(out, report, figures, analysis.settings())
        if line:
            print(line)
    print(summary(report))
    return out


def read_report(path: Path) -> dict:
    """A saved ``report.json`` of analyze.py, or a one-line error."""
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise UserInputError(
            f"cannot read the report {path} ({type(err).__name__}): pass a report.json of analyze.py"
        ) from None
    if not isinstance(report, dict) or "source" not in report or report.get("kind") == "comparison":
        raise UserInputError(f"{path} is not a single-checkpoint report.json of analyze.py")
    if report.get("schema_version") != REPORT_SCHEMA_VERSION:
        raise UserInputError(
            f"{path} was written by another version of analyze.py (report schema {report.get('schema_version', 1)}, "
            f"this one reads {REPORT_SCHEMA_VERSION}): analyse its checkpoint again"
        )
    return report


def settled_comparison(command: Command):
    """The options of a comparison with their data settled: named on the command line or in a config,
    else the first checkpoint's, after checking that every checkpoint records the same data (each is
    read here for that, before any work, and again when its turn comes in ``run_comparison``)."""
    options = command.options
    for path in options.ckpt:
        if not Path(path).is_file():
            raise UserInputError(f"--ckpt {path} does not exist: pass checkpoints or report.json files")
    checkpoints = [Path(p) for p in options.ckpt if not p.endswith(".json")]
    recorded = [recorded_data(read_checkpoint(p)) for p in checkpoints]
    if not command.data_args and options.data is None:
        check_same_data(checkpoints, recorded)
    return settle_data(command, recorded[0] if recorded else None)


def run_comparison(options) -> Path | None:
    """Analyse every checkpoint of ``--ckpt`` (each report where a single run would write it) or
    read its saved ``report.json``, then write the comparison report to ``--out`` (default
    ``comparison``). ``options``: from ``settled_comparison``; each checkpoint is analysed with them."""
    paths = [Path(c) for c in options.ckpt]
    checkpoints = [p for p in paths if p.suffix != ".json"]
    out = check_out(Path(options.out or "comparison"), paths)
    report_outs = [default_out([p], p.stem).resolve() for p in checkpoints]
    if len(set(report_outs)) < len(report_outs):
        raise UserInputError("two checkpoints would write their reports to the same folder: give them distinct names")
    for path, report_out in zip(checkpoints, report_outs):
        if within(report_out, out):
            raise UserInputError(f"--out {out} holds the report folder of {path}; name another folder")
        check_out(report_out, [path])
    reports = []
    for path in paths:
        if path.suffix == ".json":
            reports.append((f"{path.parent.name}", read_report(path)))
            continue
        single = options.clone()
        single.ckpt, single.out, single.wandb = [str(path)], None, False
        report_out = run(single, read_checkpoint(path))
        if report_out is None:  # a rank other than 0 of a torchrun or SLURM launch: rank 0 writes
            continue
        reports.append((f"{path.parent.parent.name}/{path.stem}", read_report(report_out / "report.json")))
    if len(reports) < len(paths):
        return None
    comparison = compare(reports)
    write_report(out, comparison, comparison_figures(comparison), render_comparison)
    if options.wandb:
        line = log_to_wandb(out, comparison, {}, {"checkpoints": [str(p) for p in paths]})
        if line:
            print(line)
    return out


def check_same_data(checkpoints: list[Path], recorded: list[dict | None]) -> None:
    """Checkpoints compared on their recorded data (``recorded``, one per checkpoint) must record the
    same data module and settings; else a one-line error naming the way out."""
    for path, data in zip(checkpoints[1:], recorded[1:]):
        if data != recorded[0]:
            raise UserInputError(
                f"{path} was trained on other data than {checkpoints[0]} ({describe_data(data)} vs "
                f"{describe_data(recorded[0])}): name the data for all (--data CLASS --data.KEY ...), or "
                "analyse each and compare their report.json files"
            )


def describe_data(data: dict | None) -> str:
    if data is None:
        return "no data recorded"
    settings = ", ".join(f"{k}={v}" for k, v in sorted(data.get("init_args", {}).items()) if k == "data_dir")
    return data["class_path"].rsplit(".", 1)[1] + (f" {settings}" if settings else "")


def comparison_figures(comparison: dict) -> dict[str, bytes]:
    """``trends`` (robust and clean accuracy and every interpretation metric against epoch, per run)
    and ``correlations`` (each interpretation metric against robust accuracy); a figure that fails
    becomes a line in ``comparison["figure_errors"]``."""
    rows, figures, errors = comparison["rows"], {}, []
    meanings = {column: entry["meaning"] for column, entry in comparison["correlations"].items()}
    columns = {"robust": "robust accuracy", "clean": "clean accuracy", **meanings}
    trends = {title: series(rows, column) for column, title in columns.items()}
    trends = {title: runs for title, runs in trends.items() if runs}
    if trends:
        draw(figures, errors, "trends", lambda: trend_figure(trends))
    panels = {}
    for column, entry in comparison["correlations"].items():
        pairs = robust_pairs(rows, column)
        if len(pairs) >= 2:
            subtitle = f"ρ = {entry['rho']:.2f}, p = {entry['p']:.3g} (Holm {entry['p_holm']:.3g}), n = {entry['n']}"
            panels[entry["meaning"]] = ([p[0] for p in pairs], [p[1] for p in pairs], subtitle)
    if panels:
        draw(figures, errors, "correlations", lambda: correlation_figure(panels))
    comparison["figure_errors"] = errors
    return figures


def settled(command: Command) -> tuple:
    """The options of one model's analysis with their data settled, and its checkpoint (read here,
    once; None for other model sources)."""
    checkpoint = model_checkpoint(command.options)
    return settle_data(command, data_default(command.options, checkpoint)), checkpoint


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        command = parse(argv)
        comparison = len(command.options.ckpt or []) > 1
        options, checkpoint = (settled_comparison(command), None) if comparison else settled(command)
        if command.print_config:
            print(printable(options))
            return
        out = run_comparison(options) if comparison else run(options, checkpoint)
    except KeyboardInterrupt:
        print(
            "interrupted: the report in progress was not written (a report folder is replaced only when "
            "complete); reports finished before it stand",
            file=sys.stderr,
        )
        sys.exit(130)
    except UserInputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    if out is not None:
        print(f"report: {out / 'report.html'} (numbers in {out / 'report.json'})")
