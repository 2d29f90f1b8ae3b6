"""A ready W&B workspace for a project's training runs: robust accuracy beside the PSE shares, CAM
agreement and interpretable units per epoch, runs grouped by training method, and the callbacks'
tables. The offline twin is analyze.py's comparison report (``analyze.py --ckpt A B C --out cmp/``).

    python -m lightning_pse.dashboard --entity ME --project lightning_pse [--pse-attacks pgd cw]

Saving needs W&B online (``WANDB_API_KEY`` or ``wandb login``); without it the command says so and
exits 2. The panels name what the callbacks log: ``val/robust_acc``, ``val/acc``,
``pse/<attack>/<category>_share``, ``pse/<attack>/promotion_fraction``,
``cam/<attack>/agreement_*`` and ``baseline_*``, ``dissect/<layer>/interpretable_units`` and
``dissect/<layer>/spearman_sensitivity_iou`` (per-attack and per-layer names by pattern).
"""

from __future__ import annotations

import argparse
import os
import sys

from .argparsing import invoked_as
from .attacks import presets

# (section, [(panel title, exact metric names, or a regular expression of names)])
EPOCH = "epoch"


def panels(pse_attacks: list[str]) -> dict[str, list[tuple[str, list[str] | str]]]:
    """The workspace's sections: ``title → [(panel title, metric names or a regex), ...]``."""
    shares = [(f"PSE {a}: image types", f"pse/{a}/(suppression|promotion|balanced)_share") for a in pse_attacks]
    return {
        "Robustness": [("robust accuracy (validation)", ["val/robust_acc"]), ("clean accuracy", ["val/acc"])],
        "PSE: how attacks fool the model": [
            *shares,
            ("PSE: promotion fraction P⁺/(P⁺+S⁺)", "pse/.*/promotion_fraction"),
            ("PSE: success rate", "pse/.*/success_rate"),
        ],
        "CAM: where the perturbation acts": [
            ("suppression vs true-class region (and baseline)", "cam/.*/(agreement|baseline)_suppression_true"),
            ("promotion vs target-class region (and baseline)", "cam/.*/(agreement|baseline)_promotion_target"),
        ],
        "Units: interpretability and sensitivity": [
            ("interpretable units", "dissect/.*/interpretable_units"),
            ("Spearman(sensitivity, IoU)", "dissect/.*/spearman_sensitivity_iou"),
        ],
    }


def table_names(pse_attacks: list[str]) -> list[str]:
    """The per-image PSE tables the PSE callback logs as media (``pse/<attack>/images``)."""
    return [f"pse/{a}/images" for a in pse_attacks]


def build_workspace(entity: str, project: str, pse_attacks: list[str] | None = None, name: str | None = None):
    """The ``wandb_workspaces`` Workspace (not saved): one section per level, every line plot against
    epoch with runs grouped by the ``method`` config key (mean and min–max over a group's seeds)."""
    import wandb_workspaces.reports.v2 as wr
    import wandb_workspaces.workspaces as ws

    pse_attacks = pse_attacks or list(presets.pse_attacks())
    sections = []
    for title, entries in panels(pse_attacks).items():
        plots = [
            wr.LinePlot(
                title=panel,
                x=EPOCH,
                **({"y": metrics} if isinstance(metrics, list) else {"metric_regex": metrics}),
                groupby_aggfunc="mean",
                groupby_rangefunc="minmax",
            )
            for panel, metrics in entries
        ]
        sections.append(ws.Section(name=title, panels=plots, is_open=True))
    tables = [wr.WeavePanelSummaryTable(table_name=table) for table in table_names(pse_attacks)]
    sections.append(ws.Section(name="Tables", panels=tables, is_open=False))
    return ws.Workspace(
        entity=entity,
        project=project,
        name=name or "lightning_pse: robustness and interpretation",
        sections=sections,
        runset_settings=ws.RunsetSettings(groupby=[ws.Config("method")]),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=invoked_as("dashboard"), description=__doc__.splitlines()[0])
    parser.add_argument("--entity", required=True, help="W&B user or team")
    parser.add_argument("--project", default="lightning_pse")
    parser.add_argument("--pse-attacks", nargs="+", default=None, help="the PSE callback's attack names")
    parser.add_argument("--name", default=None, help="the workspace's name")
    args = parser.parse_args(argv)
    from .output.wandb_logger import wandb_credentials

    try:
        workspace = build_workspace(args.entity, args.project, args.pse_attacks, args.name)
    except ImportError:
        print("error: the dashboard needs wandb-workspaces: pip install 'lightning_pse[wandb]'", file=sys.stderr)
        sys.exit(2)
    if not wandb_credentials() or os.environ.get("WANDB_MODE") in ("offline", "disabled", "dryrun"):
        print("error: saving a workspace needs W&B online: set WANDB_API_KEY or run `wandb login`", file=sys.stderr)
        sys.exit(2)
    saved = workspace.save()
    print(f"workspace saved: {saved.url}")


if __name__ == "__main__":
    main()
