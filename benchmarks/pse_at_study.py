"""Does PSE-AT beat PGD-AT? Eight training methods that differ only in the factor under test, several
seeds each, evaluated on the same test images; paired differences against PGD-AT (C&W margin).

    python benchmarks/pse_at_study.py [--benchmark synthetic|mnist|fashion_mnist] [--data-dir DIR] [--methods ...]
        [--seeds 0 1 2] [--num-test 1000] [--train-batches N]
        [--num-train 4000] [--epochs 3] [--out runs/pse_at_study]

Methods (the same model, data, optimiser, schedule, epochs, ε and inner budget — ``steps`` PGD
steps of ``2.5·ε/steps`` — for all):

- ``pgd_at_ce``: PGD-AT, inner loss cross-entropy (Madry et al.);
- ``pgd_at_cw``: PGD-AT, inner loss the C&W margin: the baseline, since PSE-AT splits that margin;
- ``pse_at_steer``: PSE-AT with steering only (κ 0.5, no unit penalty);
- ``pse_at_penalty``: PSE-AT with the unit penalty only (λ 0.1, κ 0);
- ``pse_at``: PSE-AT, both (κ 0.5, λ 0.1);
- ``trades``: TRADES, β 6;
- ``mart``: MART, β 6 (cross-entropy inner attack);
- ``awp``: PGD-AT (cross-entropy) with adversarial weight perturbation, γ 1e-2;
- ``awp_g<γ>`` (``--awp-gammas``): the same at another γ, for a sweep against ``pgd_at_ce``
  (``--baseline pgd_at_ce``: AWP differs from it only in the weight perturbation).

A seed fixes the initial weights, the data order and the attacks' random starts; runs of different
methods with the same seed are paired. Each trained model is evaluated on the first ``num-test``
images of the test split: clean accuracy, PGD-20 (ℓ∞ ε, step ε/4, random start) robust accuracy,
and the worst case over PGD-20 → APGD-CE → APGD-T (each later attack only on the images still
robust, as AutoAttack's cascade). ``--autoattack`` adds the official AutoAttack (standard version),
which is slow on a CPU. The table gives mean ± sd over seeds and, per method, the mean paired
difference to ``pgd_at_cw`` with its Student-t 95 % interval over seeds and the verdict
(``lightning_pse.stats.verdict``: "better" holds when the interval lies above 0).

Each run keeps ``last.ckpt`` and ``metrics.json`` in ``<out>/<benchmark>/<method>/seed<seed>/``; a
rerun skips finished runs, and measures a run again (without retraining) under evaluation settings
it was not measured with, keeping its earlier measurements (delete the folder to start over). Runs
are independent, so two processes with disjoint ``--methods`` can share ``--out`` (the one without
``pgd_at_cw`` prints no table); a last call with all methods reads the runs' metrics and prints the
tables. With ``--autoattack`` the runs' metrics add ``cascade``, the worst case before
AutoAttack. The checkpoints can be compared with
``python analyze.py --ckpt <out>/<benchmark>/*/seed0/last.ckpt --out cmp/``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from lightning_pse.attacks import APGD, PGD, robust_correct
from lightning_pse.checkpoints import load_module, read_checkpoint
from lightning_pse.data import FashionMNISTDataModule, MNISTDataModule, SyntheticDataModule, unpack_batch
from lightning_pse.sections.autoattack import autoattack_robust
from lightning_pse.stats import mean_sd, paired_difference, verdict
from lightning_pse.training import AWPModule, MARTModule, PGDATModule, PSEATModule, TRADESModule

REPO = Path(__file__).resolve().parent.parent
BASELINE = "pgd_at_cw"
METHODS = {
    "pgd_at_ce": (PGDATModule, {}),
    "pgd_at_cw": (PGDATModule, {"attack_loss": "cw"}),
    "pse_at_steer": (PSEATModule, {"steer": 0.5, "unit_penalty": 0.0}),
    "pse_at_penalty": (PSEATModule, {"steer": 0.0, "unit_penalty": 0.1}),
    "pse_at": (PSEATModule, {"steer": 0.5, "unit_penalty": 0.1}),
    "trades": (TRADESModule, {"beta": 6.0}),
    "mart": (MARTModule, {"beta": 6.0}),
    "awp": (AWPModule, {"awp_gamma": 0.01}),
}
# Per benchmark: ε and inner steps (configs/default.yaml, configs/mnist_pgd_at.yaml and
# configs/fashion_mnist_cpu_pgd_at.yaml).
BENCHMARKS = {
    "synthetic": {"eps": 8 / 255, "steps": 3},
    "mnist": {"eps": 0.3, "steps": 10},
    "fashion_mnist": {"eps": 0.1, "steps": 10},
}
METRICS = ("clean", "pgd20", "worst_case")
# A run's saved metrics are reused only when measured with these same settings.
EVALUATION_SETTINGS = ("num_test", "apgd_steps", "apgd_targets", "autoattack")


def datamodule(args) -> pl.LightningDataModule:
    if args.benchmark == "synthetic":
        return SyntheticDataModule(num_train=args.num_train, num_val=256, num_test=args.num_test, batch_size=128)
    if args.benchmark == "mnist":
        return MNISTDataModule(data_dir=args.data_dir, val_size=1000, batch_size=128)
    return FashionMNISTDataModule(data_dir=args.data_dir, val_size=5000, batch_size=128)


def recipe(data) -> dict:
    """The studies' shared model and optimiser: small CNN for ``data``'s images and classes, SGD with
    OneCycle (peak 0.1), weight decay 5e-4 (``benchmarks/dose_response.py`` trains with it too)."""
    return dict(
        model="small_cnn",
        num_classes=data.num_classes,
        in_channels=data.in_channels,
        mean=data.mean,
        std=data.std,
        optimizer="sgd",
        lr=0.1,
        weight_decay=5e-4,
        scheduler="onecycle",
    )


def train(method: str, seed: int, args, folder: Path) -> Path:
    """Train one (method, seed) run; returns its ``last.ckpt``."""
    checkpoint = folder / "last.ckpt"
    if checkpoint.exists():
        return checkpoint
    data = datamodule(args)
    data.prepare_data()
    data.setup("fit")
    bench = BENCHMARKS[args.benchmark]
    cls, knobs = METHODS[method]
    pl.seed_everything(seed, verbose=False)
    module = cls(
        **recipe(data),
        eps=bench["eps"],
        steps=bench["steps"],
        step_size=2.5 * bench["eps"] / bench["steps"],
        **knobs,
    )
    trainer = pl.Trainer(
        max_epochs=args.epochs,
        accelerator="cpu",
        inference_mode=False,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_train_batches=args.train_batches,
        limit_val_batches=0,
        deterministic=True,
    )
    trainer.fit(module, datamodule=data)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / "last.ckpt.partial"
    trainer.save_checkpoint(partial)
    partial.replace(checkpoint)
    return checkpoint


def test_images(args) -> tuple[torch.Tensor, torch.Tensor]:
    data = datamodule(args)
    data.prepare_data()
    data.setup("test")
    probe = data.probe_set(args.num_test, "test", seed=0)
    batches = [unpack_batch(probe[i]) for i in range(len(probe))]
    return torch.stack([b[0] for b in batches]), torch.tensor([int(b[1]) for b in batches])


def evaluate(checkpoint: Path, x: torch.Tensor, y: torch.Tensor, args) -> dict[str, float]:
    """Clean, PGD-20 and worst-case (PGD-20 → APGD-CE → APGD-T [→ AutoAttack]) accuracies; with
    AutoAttack also ``cascade``, the worst case before it (what AutoAttack adds is the difference)."""
    model = load_model(checkpoint)
    eps = BENCHMARKS[args.benchmark]["eps"]
    attacks = {
        "pgd20": PGD(eps=eps, steps=20, step_size=eps / 4, seed=0),
        "apgd_ce": APGD(eps=eps, steps=args.apgd_steps, loss="ce", seed=0),
        "apgd_t": APGD(
            eps=eps, steps=args.apgd_steps, loss="dlr", targeted=True, n_target_classes=args.apgd_targets, seed=0
        ),
    }
    counts = {"clean": 0, "pgd20": 0, "worst_case": 0, **({"cascade": 0} if args.autoattack else {})}
    for start in range(0, len(y), 250):
        xb, yb = x[start : start + 250], y[start : start + 250]
        with torch.no_grad():
            robust = model(xb).argmax(1) == yb
        counts["clean"] += int(robust.sum())
        for name, attack in attacks.items():
            robust = robust_correct(attack, model, xb, yb, robust)
            if name == "pgd20":
                counts["pgd20"] += int(robust.sum())
        if args.autoattack:
            counts["cascade"] += int(robust.sum())
            idx = robust.nonzero().squeeze(1)
            if idx.numel():
                robust[idx] = autoattack_robust(model, xb[idx], yb[idx], eps, "linf")
        counts["worst_case"] += int(robust.sum())
    return {metric: count / len(y) for metric, count in counts.items()}


def load_model(checkpoint: Path) -> torch.nn.Module:
    return load_module(read_checkpoint(checkpoint)).model.eval()


def awp_method(gamma: float) -> str:
    """The name of AWP at ``gamma`` in a γ sweep, registered in ``METHODS`` (``awp_g0.001``)."""
    name = f"awp_g{gamma:g}"
    METHODS[name] = (AWPModule, {"awp_gamma": gamma})
    return name


def table(results: dict, methods: list[str], seeds: list[int], baseline: str = BASELINE) -> str:
    """Markdown: mean ± sd per metric, then the paired difference to ``baseline`` with its interval."""
    lines = [
        f"| method | clean | PGD-20 | worst case | Δ PGD-20 vs {baseline} [95 % CI] | Δ worst case [95 % CI] "
        "| better? |",
        "|---|---|---|---|---|---|---|",
    ]
    for method in methods:
        cells = []
        for metric in METRICS:
            mean, sd = mean_sd([results[method][str(s)][metric] for s in seeds])
            cells.append(f"{100 * mean:.1f} ± {100 * sd:.1f}")
        deltas, verdicts = [], []
        for metric in ("pgd20", "worst_case"):
            if method == baseline:
                deltas.append("—")
                continue
            d = paired_difference(
                [results[method][str(s)][metric] for s in seeds], [results[baseline][str(s)][metric] for s in seeds]
            )
            low, high = d["ci95"]
            deltas.append(f"{100 * d['mean']:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]")
            verdicts.append(verdict(low, high))
        better = "—" if method == baseline else " / ".join(verdicts)
        lines.append(f"| {method} | {' | '.join(cells)} | {' | '.join(deltas)} | {better} |")
    return "\n".join(lines)


def per_seed_table(results: dict, methods: list[str], seeds: list[int]) -> str:
    """Markdown: each run's clean / PGD-20 / worst-case accuracy in %, one column per seed."""
    lines = [
        "| method | " + " | ".join(f"seed {seed} clean / PGD-20 / worst" for seed in seeds) + " |",
        "|---|" + "---|" * len(seeds),
    ]
    for method in methods:
        runs = [results[method][str(seed)] for seed in seeds]
        cells = [" / ".join(f"{100 * run[metric]:.1f}" for metric in METRICS) for run in runs]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", choices=tuple(BENCHMARKS), default="synthetic")
    parser.add_argument(
        "--data-dir", default=str(REPO / "data"), help="the IDX files (--benchmark mnist or fashion_mnist)"
    )
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--num-train", type=int, default=4000, help="synthetic training images")
    parser.add_argument("--train-batches", type=int, default=None, help="batches per epoch (default: all)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--num-test", type=int, default=1000)
    parser.add_argument("--apgd-steps", type=int, default=50, help="APGD-CE and APGD-T iterations")
    parser.add_argument("--apgd-targets", type=int, default=3, help="APGD-T's target classes (the top ones)")
    parser.add_argument("--autoattack", action="store_true", help="add AutoAttack (standard) to the cascade")
    parser.add_argument("--awp-gammas", type=float, nargs="*", default=[], help="also AWP at these γ (a sweep)")
    parser.add_argument("--baseline", default=BASELINE, choices=list(METHODS), help="the paired differences' reference")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "pse_at_study")
    args = parser.parse_args()
    args.methods = [*args.methods, *(awp_method(gamma) for gamma in args.awp_gammas)]
    if len(args.seeds) < 3:
        print("warning: fewer than 3 seeds; the intervals say little", flush=True)
    root = args.out / args.benchmark
    evaluation = {key: getattr(args, key) for key in EVALUATION_SETTINGS}
    x, y = test_images(args)
    results: dict[str, dict[str, dict]] = {}
    for seed in args.seeds:
        for method in args.methods:
            folder = root / method / f"seed{seed}"
            metrics = read_metrics(folder, evaluation)
            if metrics is None:
                start = time.perf_counter()
                checkpoint = train(method, seed, args, folder)
                trained = time.perf_counter()
                metrics = evaluate(checkpoint, x, y, args)
                metrics["train_s"], metrics["eval_s"] = trained - start, time.perf_counter() - trained
                write_metrics(folder, metrics, evaluation)
                print(f"{method} seed {seed}: {metrics}", flush=True)
            results.setdefault(method, {})[str(seed)] = metrics
    print(f"\n{args.benchmark}: {len(y)} test images, seeds {args.seeds}, settings {vars(args)}\n")
    if args.baseline in args.methods:
        print(table(results, args.methods, args.seeds, args.baseline))
    else:
        print(f"no table: the paired differences need {args.baseline}; run again with it once the others finished")
    print(f"\nPer seed (clean / PGD-20 / worst case, %):\n\n{per_seed_table(results, args.methods, args.seeds)}")


def read_metrics(folder: Path, evaluation: dict) -> dict | None:
    """A finished run's metrics measured with ``evaluation``'s settings, or None."""
    for saved in saved_evaluations(folder):
        if saved["evaluation"] == evaluation:
            return saved["metrics"]
    return None


def write_metrics(folder: Path, metrics: dict, evaluation: dict) -> None:
    """Beside the run's checkpoint (so that processes with disjoint ``--methods`` can share
    ``--out``), keeping what the run measured with other settings."""
    kept = [saved for saved in saved_evaluations(folder) if saved["evaluation"] != evaluation]
    partial = folder / "metrics.json.partial"
    partial.write_text(json.dumps({"evaluations": [*kept, {"evaluation": evaluation, "metrics": metrics}]}, indent=1))
    partial.replace(folder / "metrics.json")


def saved_evaluations(folder: Path) -> list[dict]:
    path = folder / "metrics.json"
    return json.loads(path.read_text())["evaluations"] if path.exists() else []


if __name__ == "__main__":
    main()
