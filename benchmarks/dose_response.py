"""Is interpretation linked to robustness? A dose-response study across models whose robustness is
varied by design: PGD-AT on the full Fashion-MNIST at training radii ε ∈ {0, 0.02, 0.05, 0.1, 0.15}
(ε 0 is standard training), several seeds each, every model with the same budget.

    python benchmarks/dose_response.py train   [--eps 0 0.02 0.05 0.1 0.15] [--seeds 0 1] [--threads 1]
    python benchmarks/dose_response.py analyze [--num-samples 200] [--autoattack-eps 0 0.05 0.15]
    python benchmarks/dose_response.py table   [--figures docs/img]

The budget, the same for every model: 2 epochs of the 55 000 training images (5 000 carved for
validation, not used), batch 128, SGD with OneCycle (peak 0.1), weight decay 5e-4, small CNN; the
inner attack PGD-5 (step 2.5·ε/5, random start, cross-entropy). Why this budget: the ten models fit
one 3-hour session on one thread of the 2-core machine beside other work (measured: PGD-5 0.93 s per
step on one thread, 6.7 minutes an epoch; standard training well under a minute an epoch), so the
study's training is done in one sitting; longer training raises every model's accuracy but the
design only needs robustness to vary with ε at a fixed budget.

Each model is analysed by ``analyze.py`` at one common radius (ℓ∞ ε 0.1) on ``--num-samples`` test
images, every section, with ``--robustness autoattack`` for the training radii in
``--autoattack-eps``. ``table`` reads the reports and correlates each interpretation metric with
robust accuracy across models as ``analyze.py``'s comparison does (``lightning_pse.analysis.compare``:
exact or seeded permutation p, Holm over the metrics, points below a finding's minimum left out),
adding an interval of ρ from a bootstrap that resamples the seeds within each ε.

Resumable: a model in training keeps ``last.ckpt`` (every 25 steps) in
``<out>/eps<ε>/seed<s>/`` and resumes from it; a finished model is ``model.ckpt`` there, with
``train.json`` (its training time); a finished analysis is ``analysis/report.json``. A rerun skips
what is finished. The models are rebuilt by this script, never committed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EPS_GRID = (0.0, 0.02, 0.05, 0.1, 0.15)
EVAL_EPS = 0.1  # the common evaluation radius (ℓ∞, pixels)
EPOCHS = 2
INNER_STEPS = 5
BATCH_SIZE = 128


def model_folder(out: Path, eps: float, seed: int) -> Path:
    return out / f"eps{eps:g}" / f"seed{seed}"


def build_module(eps: float, data):
    """PGD-AT at ``eps`` (standard training at 0) with the study's fixed budget."""
    from pse_at_study import recipe

    from lightning_pse.training import ClassifierModule, PGDATModule

    common = recipe(data)
    if eps == 0:
        return ClassifierModule(**common)
    return PGDATModule(eps=eps, steps=INNER_STEPS, step_size=2.5 * eps / INNER_STEPS, **common)


def train(eps: float, seed: int, args) -> Path:
    """Train (or resume) one model; returns its ``model.ckpt``."""
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ModelCheckpoint

    from lightning_pse.data import FashionMNISTDataModule

    folder = model_folder(args.out, eps, seed)
    final = folder / "model.ckpt"
    if final.exists():
        return final
    folder.mkdir(parents=True, exist_ok=True)
    data = FashionMNISTDataModule(data_dir=args.data_dir, val_size=5000, batch_size=BATCH_SIZE)
    data.prepare_data()
    data.setup("fit")
    pl.seed_everything(seed, verbose=False)
    module = build_module(eps, data)
    resume = folder / "last.ckpt"
    trainer = pl.Trainer(
        max_epochs=EPOCHS,
        accelerator="cpu",
        inference_mode=False,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        deterministic=True,
        callbacks=[
            ModelCheckpoint(dirpath=folder, filename="last", every_n_train_steps=25, enable_version_counter=False)
        ],
    )
    print(f"[{time.strftime('%H:%M:%S')}] training ε {eps:g} seed {seed}" + (" (resumed)" if resume.exists() else ""))
    started = time.time()
    trainer.fit(module, datamodule=data, ckpt_path=str(resume) if resume.exists() else None)
    partial = folder / "model.ckpt.partial"
    trainer.save_checkpoint(partial)
    record = {"eps": eps, "seed": seed, "epochs": EPOCHS, "seconds_this_sitting": round(time.time() - started)}
    (folder / "train.json").write_text(json.dumps(record, indent=1))
    partial.replace(final)
    print(f"[{time.strftime('%H:%M:%S')}] done ε {eps:g} seed {seed}: {record['seconds_this_sitting']} s")
    return final


def analyze_command(eps: float, seed: int, args) -> list[str]:
    """The ``analyze.py`` arguments for one model: the common radius, ``--num-samples`` test images,
    ``--min_fooled``, the data concept probe with label stability, and AutoAttack for the radii in
    ``--autoattack-eps``."""
    folder = model_folder(args.out, eps, seed)
    command = [
        "--ckpt",
        str(folder / "model.ckpt"),
        "--eps",
        str(EVAL_EPS),
        "--norm",
        "linf",
        "--num_samples",
        str(args.num_samples),
        "--min_fooled",
        str(args.min_fooled),
        "--out",
        str(folder / "analysis"),
        "--quiet",
        "--dissection.probe",
        "data",
        "--dissection.stability_draws",
        str(args.stability_draws),
    ]
    if any(abs(eps - e) < 1e-9 for e in args.autoattack_eps):
        command += ["--robustness", "autoattack"]
    return command


def analyze(eps: float, seed: int, args) -> Path | None:
    """Run ``analyze.py`` on one finished model at the common radius; returns its report.json."""
    folder = model_folder(args.out, eps, seed)
    report = folder / "analysis" / "report.json"
    if report.exists() or not (folder / "model.ckpt").exists():
        return report if report.exists() else None
    print(f"[{time.strftime('%H:%M:%S')}] analysing ε {eps:g} seed {seed}", flush=True)
    started = time.time()
    subprocess.run([sys.executable, str(REPO / "analyze.py"), *analyze_command(eps, seed, args)], check=True)
    print(f"[{time.strftime('%H:%M:%S')}] analysed ε {eps:g} seed {seed}: {time.time() - started:.0f} s", flush=True)
    return report


def reports(out: Path) -> list[tuple[str, dict, float, int]]:
    """``(label, report, ε, seed)`` of every finished analysis under ``out``, by ε then seed."""
    found = []
    for path in sorted(out.glob("eps*/seed*/analysis/report.json")):
        eps, seed = float(path.parts[-4][3:]), int(path.parts[-3][4:])
        found.append((f"ε {eps:g} seed {seed}", json.loads(path.read_text()), eps, seed))
    return sorted(found, key=lambda item: (item[2], item[3]))


def seed_bootstrap(rows: list[dict], eps: list[float], column: str, resamples: int = 2000, seed: int = 0) -> list:
    """95 % percentile interval of Spearman ρ(column, robust accuracy) across models when each ε's
    models are resampled with replacement among themselves (the seeds within each ε), ``resamples``
    times with a seeded generator; points below their finding's minimum stay left out."""
    import numpy as np
    from scipy import stats as scipy_stats

    from lightning_pse.analysis.compare import robust_pairs

    generator = np.random.default_rng(seed)
    groups = {e: [r for r, re in zip(rows, eps) if re == e] for e in sorted(set(eps))}
    values = []
    for _ in range(resamples):
        drawn = [group[i] for group in groups.values() for i in generator.integers(0, len(group), len(group))]
        pairs = robust_pairs(drawn, column)
        if len(pairs) >= 3 and len({p[0] for p in pairs}) > 1 and len({p[1] for p in pairs}) > 1:
            values.append(scipy_stats.spearmanr(*zip(*pairs)).statistic)
    if not values:
        return [float("nan"), float("nan")]
    return [float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))]


def table(args) -> None:
    """Print the per-model table, the correlations across models and each model's verdicts of the
    findings; write the dose-response figure."""
    from lightning_pse.analysis.compare import compare

    found = reports(args.out)
    if len(found) < 3:
        raise SystemExit(f"{len(found)} finished analyses under {args.out}: the study needs at least 3")
    comparison = compare([(label, report) for label, report, _, _ in found])
    rows, eps = comparison["rows"], [item[2] for item in found]
    print(f"PSE and CAM columns from `{comparison['attack']}`; {comparison['metrics_tested']} metrics tested (Holm)\n")
    print("| model | clean | worst case (every attack) | AutoAttack alone |")
    print("|---|---|---|---|")
    for row, (label, report, _, _) in zip(rows, found):
        aa = report.get("autoattack")
        aa_text = f"{aa['value']:.3f} [{aa['ci95'][0]:.3f}, {aa['ci95'][1]:.3f}]" if aa else "—"
        print(f"| {label} | {row['clean']:.3f} | {row['robust']:.3f} {fmt_ci(row['robust_ci95'])} | {aa_text} |")
    print(
        "\n| metric | "
        + " | ".join(label for label, *_ in found)
        + " | ρ with worst case | p | p (Holm) | seed bootstrap of ρ | link |"
    )
    print("|---|" + "---|" * (len(found) + 5))
    panels = {}
    for column, correlation in comparison["correlations"].items():
        meaning = correlation["meaning"]
        cells = []
        for row in rows:
            value, interval = row[column], row["intervals"][column]
            text = "—" if value is None else f"{value:.3f}" + (f" {fmt_ci(interval)}" if interval else "")
            cells.append(f"({text}, n = {row['support'][column][0]})" if column in row["below_minimum"] else text)
        boot = seed_bootstrap(rows, eps, column)
        print(
            f"| {meaning} | " + " | ".join(cells) + f" | {correlation['rho']:.2f} | {correlation['p']:.3g} "
            f"| {correlation['p_holm']:.3g} | {fmt_ci(boot)} | {correlation['link']} |"
        )
        panels[meaning] = [
            (row[column], row["intervals"][column], row["robust"], row["robust_ci95"], e)
            for row, (_, _, e, _) in zip(rows, found)
            if row[column] is not None and column not in row["below_minimum"]
        ]
    print("\n" + verdict_table(found))
    if args.figures:
        path = Path(args.figures) / "dose_response.png"
        path.write_bytes(dose_response_figure(panels))
        print(f"\nfigure: {path}")


def verdict_table(found: list[tuple[str, dict, float, int]]) -> str:
    """Each model's verdicts of the paper's findings (``registry.finding_rows`` of its report), one
    row per claim and one column per model: the verdict, the effect with its interval where the
    finding has one, and n. Rows of attacks outside the threat model carry no verdict and are left
    out; a claim's attack name is dropped from its row title (every model names the same one)."""
    from lightning_pse.analysis.registry import finding_rows

    cells: dict[str, dict[str, str]] = {}
    for label, report, _, _ in found:
        for claim, effect, interval, n, _, verdict in finding_rows(report.get("findings", {})):
            if verdict.startswith("outside"):
                continue
            title = claim.rsplit(" (", 1)[0] if claim.endswith(")") else claim
            shown = f"{effect:.3f} {interval}, " if isinstance(effect, float) else ""
            cells.setdefault(title, {})[label] = f"{verdict} ({shown}n = {n})"
    labels = [label for label, *_ in found]
    lines = ["| finding | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for title, by_model in cells.items():
        lines.append(f"| {title} | " + " | ".join(by_model.get(label, "—") for label in labels) + " |")
    return "\n".join(lines)


def fmt_ci(interval) -> str:
    return (
        "—" if not interval or any(v is None or v != v for v in interval) else f"[{interval[0]:.3f}, {interval[1]:.3f}]"
    )


def dose_response_figure(panels: dict) -> bytes:
    """One panel per metric: its value (with its interval) against the worst-case robust accuracy
    (with its Wilson interval), one point per model, coloured by training ε."""
    import io
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 3
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    colours = plt.get_cmap("viridis")
    grid = sorted({point[4] for points in panels.values() for point in points})
    for ax, (title, points) in zip(axes.flat, panels.items()):
        for value, interval, robust, robust_ci, eps in points:
            colour = colours(grid.index(eps) / max(len(grid) - 1, 1))
            yerr = [[value - interval[0]], [interval[1] - value]] if interval else None
            xerr = [[robust - robust_ci[0]], [robust_ci[1] - robust]] if robust_ci else None
            ax.errorbar(robust, value, xerr=xerr, yerr=yerr, fmt="o", color=colour, ms=4, lw=0.8)
        ax.set_title(textwrap.fill(title, 48), fontsize=8)
        ax.set_xlabel("worst-case robust accuracy (ε 0.1)", fontsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    handles = [
        plt.Line2D([], [], marker="o", ls="", color=colours(i / max(len(grid) - 1, 1))) for i in range(len(grid))
    ]
    figure.legend(handles, [f"training ε {e:g}" for e in grid], loc="lower right", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stage", choices=("train", "analyze", "table"))
    parser.add_argument("--eps", type=float, nargs="+", default=list(EPS_GRID), help="training radii")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "dose_response")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--num-samples", type=int, default=200, help="test images per analysis")
    parser.add_argument("--min-fooled", type=int, default=20, help="analyze.py --min_fooled")
    parser.add_argument("--stability-draws", type=int, default=20, help="analyze.py --dissection.stability_draws")
    parser.add_argument("--autoattack-eps", type=float, nargs="*", default=[0.0, 0.05, 0.15])
    parser.add_argument("--figures", default=None, help="folder for dose_response.png (table stage)")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.stage == "train":
        for seed in args.seeds:  # every radius of one seed first: a partial study still spans the grid
            for eps in args.eps:
                train(eps, seed, args)
    elif args.stage == "analyze":
        for seed in args.seeds:
            for eps in args.eps:
                analyze(eps, seed, args)
    else:
        table(args)


if __name__ == "__main__":
    main()
