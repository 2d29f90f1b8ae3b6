"""Our default robustness cascade against AutoAttack's standard version, in one process, on each
checkpoint given: is it ever weaker on a sample, and what does it cost beside AutoAttack?

    python benchmarks/robustness.py --ckpt runs/fmnist/standard/checkpoints/last.ckpt \\
        runs/fmnist/pgd_at/checkpoints/last.ckpt [--num-samples 500] [--eps 0.1] [--out runs/robustness_benchmark]

Each checkpoint's test images (the first ``--num-samples`` of the seeded probe subset, as
``analyze.py`` draws them) go through ``evaluate(..., robustness="autoattack")`` with our cascade
(``presets.cascade``, ``--robustness cascade``) as the attacks and AutoAttack beside it on the same
batches. The table gives clean
accuracy, ours, AutoAttack, the samples each broke alone, the AutoAttack-broken samples a gate of
our cascade gave up on, the forward + backward passes and seconds of each side, and the ratios
(ours / AutoAttack). The bar (#44): no sample broken only by AutoAttack, at most 0.15× its cost.
Each report is kept in ``--out`` (``<name>.json``; a rerun skips what is there, so the table can be
assembled from runs made at different times); ``--threads`` sets torch's threads.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from lightning_pse.analysis import evaluate
from lightning_pse.analysis.options import parse_eps
from lightning_pse.attacks import presets
from lightning_pse.checkpoints import load_datamodule, load_module, read_checkpoint
from lightning_pse.schemas import report_json

REPO = Path(__file__).resolve().parent.parent


def run_name(ckpt: Path) -> str:
    """``runs/fmnist/pgd_at/checkpoints/last.ckpt`` → ``fmnist_pgd_at``; a file outside a
    ``checkpoints`` folder is named by its two parent folders and stem."""
    parts = ckpt.resolve().parts
    if len(parts) >= 3 and parts[-2] == "checkpoints":
        return f"{parts[-4]}_{parts[-3]}"
    return "_".join((*parts[-3:-1], ckpt.stem))


def numbers(report: dict) -> dict:
    """The table's numbers from a robustness report with AutoAttack beside our cascade."""
    passes, autoattack = report["passes"], report["autoattack"]

    def total(p: dict) -> int:
        return p["forward"] + p["backward"]

    return {
        "n": report["num_samples"],
        "clean": report["clean"]["count"],
        "ours": report["our_worst_case"]["count"],
        "autoattack": autoattack["count"],
        "worst": report["worst_case"]["count"],
        "only_autoattack": autoattack["broken_only_by_autoattack"],
        "only_ours": autoattack["broken_only_by_our_attacks"],
        "given_up_broken": autoattack.get("given_up_broken_by_autoattack", 0),
        "passes_ours": total(passes["ours"]),
        "passes_autoattack": total(passes["autoattack"]),
        "seconds_ours": passes["seconds"]["ours"],
        "seconds_autoattack": passes["seconds"]["autoattack"],
    }


def table(rows: dict[str, dict]) -> str:
    """A markdown table, one row per checkpoint, and the worst ratios over all of them."""
    lines = [
        "| model | images | clean | ours | AutoAttack | worst case | broken only by AutoAttack | only by ours "
        "| given up, AutoAttack broke | passes ours / AA | ratio | seconds ours / AA | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['n']} | {r['clean']} | {r['ours']} | {r['autoattack']} | {r['worst']} | "
            f"{r['only_autoattack']} | {r['only_ours']} | {r['given_up_broken']} | "
            f"{r['passes_ours']:,} / {r['passes_autoattack']:,} | {r['passes_ours'] / r['passes_autoattack']:.3f} | "
            f"{r['seconds_ours']:.0f} / {r['seconds_autoattack']:.0f} | "
            f"{r['seconds_ours'] / r['seconds_autoattack']:.3f} |"
        )
    if rows:
        worst_passes = max(r["passes_ours"] / r["passes_autoattack"] for r in rows.values())
        worst_time = max(r["seconds_ours"] / r["seconds_autoattack"] for r in rows.values())
        missed = sum(r["only_autoattack"] for r in rows.values())
        lines.append(
            f"\nWorst over {len(rows)} models: ours {worst_passes:.3f}× AutoAttack's passes, {worst_time:.3f}× its "
            f"time; {missed} samples broken only by AutoAttack in all."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", type=Path, nargs="+", required=True)
    parser.add_argument("--num-samples", type=int, default=500)
    parser.add_argument("--eps", type=parse_eps, default=None, help="ℓ∞ radius (default: the model's training ε)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "robustness_benchmark")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = {}
    for ckpt in args.ckpt:
        name = run_name(ckpt)
        path = args.out / f"{name}.json"
        if not path.exists():
            checkpoint = read_checkpoint(ckpt)
            module, data = load_module(checkpoint), load_datamodule(checkpoint)
            norm, eps = presets.model_threat(dict(module.hparams), data, "linf", args.eps)
            started = time.perf_counter()
            report = evaluate(
                module.model.eval(),
                data,
                ["robustness"],
                num_samples=args.num_samples,
                split="test",
                eps=eps,
                norm=norm,
                attacks=presets.cascade(eps, data.num_classes, norm),
                robustness="autoattack",
                progress="lines",
            )
            path.write_text(report_json(report))
            print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
        rows[name] = numbers(json.loads(path.read_text()))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print(table(rows))


if __name__ == "__main__":
    main()
