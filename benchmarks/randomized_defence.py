"""How much does a deterministic evaluation overstate a randomized defence? A trained model wrapped in
a randomized input defence (``lightning_pse.models.randomized``), evaluated by the robustness
section twice on the same test images: as if it were deterministic (single-sample gradients,
AutoAttack's standard version) and as it should be (our attacks with EOT, AutoAttack's rand
version), repeated with several seeds for the spread the defence's randomness gives.

    python benchmarks/randomized_defence.py --ckpt runs/dose_response/eps0.1/seed0/model.ckpt \
        --defence noise --strength 0.1 [--num-samples 200] [--seeds 0 1 2] [--eot-samples 20] [--ours cascade] \
        [--modes deterministic eot]

``--ours cascade`` (the default): our attacks run as the cascade (``presets.cascade``, each attack
on what the earlier ones left robust), so EOT's ``eot-samples`` forward passes per gradient are
spent only on samples still robust; ``every``: every attack of ``presets.autoattack_like`` on
every sample, as ``analyze.py``'s default (the strongest, and under EOT the costliest).

``--defence noise``: Gaussian input noise of standard deviation ``strength`` (pixels);
``resize_pad``: a random resize of up to ``strength`` pixels and a random zero pad back. The
undefended model is evaluated once beside them. Prints, per mode and seed, clean accuracy, our
worst case, AutoAttack alone, the headline (every attack) and the samples each side broke alone,
then the mean ± sd per mode. Each run's numbers are kept in ``--out`` (``<mode>_seed<s>.json``, in
a folder named by the model's weights); a rerun skips what is there, processes given other
``--modes`` or ``--seeds`` share the work, and ``--table-only`` prints what is kept. The probe
images and the attacks' seeds are the same in every run; the seed sets torch's global generator,
which the defence draws from (AutoAttack seeds that generator itself before each of its attacks,
so the seeds vary the draws under our attacks most).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from robustness import run_name  # benchmarks/robustness.py, beside this script

from lightning_pse.analysis import evaluate
from lightning_pse.attacks import presets
from lightning_pse.attacks.cascade import Cascade
from lightning_pse.checkpoints import load_datamodule, load_module, read_checkpoint
from lightning_pse.dissect.cache import model_fingerprint
from lightning_pse.models.randomized import DEFENCES
from lightning_pse.stats import mean_sd

REPO = Path(__file__).resolve().parent.parent
# mode → (AutoAttack's version, whether our attacks average gradients over draws)
MODES = {"deterministic": ("standard", False), "eot": ("rand", True)}
ORDERS = ("cascade", "every")  # --ours


def summary(report: dict) -> dict:
    """The numbers the table shows, from a robustness report with AutoAttack."""
    autoattack = report["autoattack"]
    return {
        "clean": report["clean_accuracy"],
        "ours": report["our_worst_case"]["value"],
        "autoattack": autoattack["value"],
        "worst_case": report["worst_case"]["value"],
        "broken_only_by_autoattack": autoattack["broken_only_by_autoattack"],
        "broken_only_by_our_attacks": autoattack["broken_only_by_our_attacks"],
        "seconds": report["elapsed_seconds"],
    }


def our_attacks(order: str, eps: float, num_classes: int) -> Cascade | None:
    """Our attacks for ``--ours``: ``cascade`` → ``presets.cascade`` (ℓ∞ ``eps``); ``every`` → None,
    ``evaluate``'s default (every attack of ``presets.autoattack_like`` on every sample)."""
    if order not in ORDERS:
        raise ValueError(f"--ours {order!r}: choose one of {ORDERS}")
    return presets.cascade(eps, num_classes, "linf") if order == "cascade" else None


def run_folder(out: Path, ckpt: Path, fingerprint: str, defence: str, strength: float, order: str) -> Path:
    """Where one defence's runs are kept: ``runs/fmnist/pgd_at/checkpoints/last.ckpt`` with weights
    whose fingerprint starts ``1a2b3c4d``, noise 0.1, cascade →
    ``<out>/fmnist_pgd_at_1a2b3c4d_noise0.1_cascade`` (the model's name as benchmarks/robustness.py
    gives it, its weights' SHA-256 (``model_fingerprint``) cut to 8 digits, the defence, its strength,
    our attacks' order), so runs of two orders or strengths never mix, nor runs of a model retrained
    under the same path (a table may be finished in a later session, on the model rebuilt: its rows
    join only if the weights are the same)."""
    return out / f"{run_name(ckpt)}_{fingerprint[:8]}_{defence}{strength:g}_{order}"


def plan(modes: list[str], seeds: list[int]) -> list[tuple[str, str, int]]:
    """The runs, in order, as (row label, mode, seed): the undefended model once (seed 0; a
    deterministic evaluation, so with ``deterministic`` among ``modes``), then each mode at each of
    ``seeds``."""
    runs = [("undefended", "deterministic", 0)] if "deterministic" in modes else []
    return runs + [(mode, mode, seed) for mode in modes for seed in seeds]


def row_path(folder: Path, label: str, seed: int) -> Path:
    return folder / f"{label}_seed{seed}.json"


def kept_rows(folder: Path, runs: list[tuple[str, str, int]]) -> list[tuple[str, int, dict]]:
    """(row label, seed, numbers) of each of ``runs`` (``plan``'s) whose numbers are kept in
    ``folder``, in ``runs``' order; a run not finished has no row."""
    rows = []
    for label, _, seed in runs:
        path = row_path(folder, label, seed)
        if path.exists():
            rows.append((label, seed, json.loads(path.read_text())))
    return rows


def run(model, data, mode: str, seed: int, args) -> dict:
    """One evaluation of ``model`` in ``mode`` (see ``MODES``) with the defence's draws seeded by
    ``seed``; the probe images are the same for every run (probe seed 0)."""
    version, eot = MODES[mode]
    torch.manual_seed(seed)
    attacks = our_attacks(args.ours, args.eps, data.num_classes)
    return evaluate(
        model,
        data,
        ["robustness"],
        num_samples=args.num_samples,
        eps=args.eps,
        norm="linf",
        robustness="autoattack",
        attacks=attacks,
        autoattack_version=version,
        eot_samples=args.eot_samples if eot else 1,
        progress="lines",
    )


def table(rows: list[tuple[str, int, dict]]) -> str:
    columns = ("clean", "ours", "autoattack", "worst_case", "broken_only_by_autoattack", "broken_only_by_our_attacks")
    lines = [
        "| mode | seed | clean | ours | AutoAttack | worst case | broken only by AutoAttack | only by ours | s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, seed, numbers in rows:
        cells = [f"{numbers[c]:.3f}" if isinstance(numbers[c], float) else str(numbers[c]) for c in columns]
        lines.append(f"| {mode} | {seed} | " + " | ".join(cells) + f" | {numbers['seconds']:.0f} |")
    for mode in dict.fromkeys(mode for mode, _, _ in rows):
        runs = [numbers for m, _, numbers in rows if m == mode]
        if len(runs) > 1:
            cells = [
                "{:.3f} ± {:.3f}".format(*mean_sd([r[c] for r in runs])) if c in columns[:4] else "—" for c in columns
            ]
            lines.append(f"| {mode} | mean ± sd | " + " | ".join(cells) + " | — |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", type=Path, required=True, help="a train.py (or dose_response.py) checkpoint")
    parser.add_argument("--defence", choices=tuple(DEFENCES), default="noise")
    parser.add_argument("--strength", type=float, default=0.1, help="noise σ (pixels) or resize-pad pixels")
    parser.add_argument("--eps", type=float, default=0.1, help="ℓ∞ radius (pixels)")
    parser.add_argument("--num-samples", type=int, default=200)
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the defence's randomness, a run per mode each"
    )
    parser.add_argument("--eot-samples", type=int, default=20, help="forward passes per gradient (AutoAttack rand: 20)")
    parser.add_argument("--ours", choices=ORDERS, default="cascade", help="our attacks' order (above)")
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=tuple(MODES),
        default=list(MODES),
        help="which modes' runs (two processes may share a table)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "randomized_defence")
    parser.add_argument("--table-only", action="store_true", help="print the kept runs' table, run nothing")
    args = parser.parse_args()
    checkpoint = read_checkpoint(args.ckpt)
    data = load_datamodule(checkpoint)
    model = load_module(checkpoint).model.eval()
    strength = int(args.strength) if args.defence == "resize_pad" else args.strength
    defended = DEFENCES[args.defence](model, strength).eval()
    folder = run_folder(args.out, args.ckpt, model_fingerprint(model), args.defence, args.strength, args.ours)
    runs = plan(args.modes, args.seeds)
    to_run = [] if args.table_only else runs
    if to_run:
        folder.mkdir(parents=True, exist_ok=True)
    for label, mode, seed in to_run:
        path = row_path(folder, label, seed)
        if not path.exists():
            started = time.perf_counter()
            numbers = summary(run(model if label == "undefended" else defended, data, mode, seed, args))
            partial = path.with_suffix(".partial")  # a run cut short leaves no row that looks finished
            partial.write_text(json.dumps(numbers, indent=1))
            partial.replace(path)
            print(f"{label} seed {seed}: {numbers} ({time.perf_counter() - started:.0f} s)", flush=True)
    rows = kept_rows(folder, runs)
    print(f"\n{args.ckpt}, {args.defence} {args.strength:g}, ℓ∞ ε {args.eps:g}, {args.num_samples} test images\n")
    print(table(rows))


if __name__ == "__main__":
    main()
