"""``docs/method.md`` stays true to the code: the defaults its tables list are the functions' defaults,
and no file of the package or the README sends readers to a METHOD.md a clone does not have."""

import inspect
import re
import subprocess

import pytest

from lightning_pse.attacks import presets
from lightning_pse.cam.regions import binarize
from lightning_pse.dissect import DEFAULT_DISSECTION, dissect
from lightning_pse.dissect.masking import MASK_FRACTIONS
from lightning_pse.groups import default_group_size
from lightning_pse.pse import analyze

from helpers import REPO

DOC = (REPO / "docs" / "method.md").read_text()


def documented(setting: str) -> str:
    """The default column of the table row whose setting cell starts with ``setting``."""
    match = re.search(rf"^\| `?{re.escape(setting)}`?[^|]*\| ([^|]+) \|", DOC, re.M)
    assert match, f"docs/method.md lists no default for {setting}"
    return match.group(1).strip()


def default(function, name):
    return inspect.signature(function).parameters[name].default


@pytest.mark.parametrize(
    "setting, value",
    [
        ("estimator", lambda: f"`{default(analyze, 'estimator')}`"),
        ("tau", lambda: str(default(analyze, "tau"))),
        ("rho", lambda: str(default(analyze, "rho"))),
        ("eps", lambda: f"{default(analyze, 'eps'):g}"),
        ("group size", lambda: f"{default_group_size(64)} (≤ 64 px), {default_group_size(65)} (larger)"),
        ("region threshold", lambda: f"{default(binarize, 'threshold')} · max"),
        ("quantile q", lambda: str(default(dissect, "quantile"))),
        ("IoU threshold", lambda: str(default(dissect, "iou_threshold"))),
        ("top fraction", lambda: str(DEFAULT_DISSECTION.top_fraction)),
        ("masked fractions", lambda: ", ".join(f"{100 * f:g}" for f in MASK_FRACTIONS) + " %"),
    ],
)
def test_documented_defaults_are_the_codes(setting, value):
    assert documented(setting) == value()


@pytest.mark.parametrize("preset", ["pgd20", "robust_eval", "pse_targeted", "pse_cw", "sensitivity", "ground_truth"])
def test_documented_attack_budgets_are_the_presets(preset):
    """The steps column of docs/method.md §6 is each preset's ``steps``."""
    assert documented(preset) and re.search(rf"^\| `{preset}` \|[^|]+\| (\d+) \|", DOC, re.M).group(1) == str(
        getattr(presets, preset)().steps
    )


def test_nothing_points_at_a_method_file_outside_the_repository():
    found = subprocess.run(
        ["git", "grep", "-n", "METHOD.md", "--", "lightning_pse", "README.md", "benchmarks"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert found.stdout == "", found.stdout
