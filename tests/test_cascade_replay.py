"""benchmarks/cascade_replay.py: AutoAttack recorded attack by attack gives its own run's verdict
per sample, and a replay finds each sample only AutoAttack broke, with what it cost."""

import sys

import pytest
import torch

from lightning_pse.attacks.cascade import Cascade
from lightning_pse.errors import UserInputError
from lightning_pse.sections.autoattack import autoattack_robust

from helpers import REPO, TinyNet, data
from helpers.cascade_stubs import BreaksMarked, FirstPixels, images

sys.path.insert(0, str(REPO / "benchmarks"))
import cascade_replay  # noqa: E402


def test_the_record_attack_by_attack_is_autoattacks_own_run():
    """Each of AutoAttack's four attacks alone, on what the earlier left robust, breaks per sample
    what its whole run breaks, at its whole run's cost and for each part after the first a few passes
    more per sample (AutoAttack's clean pass and checks of the model, 8 in pyautoattack 0.2); at
    ε 4/255 a linear net on 16 random images is broken by APGD-CE and APGD-T, so the order counts."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 10))
    x = torch.rand(16, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    eps = 4 / 255
    robust, passes = autoattack_robust(model, x, y, eps, "linf")
    recorded = cascade_replay.record(model, x, y, eps, "linf")
    assert recorded["correct"].all()
    assert torch.equal(recorded["broken_by"] >= 0, ~robust)
    assert len(set(recorded["broken_by"][~robust].tolist())) > 1, "a test that only APGD-CE's breaks would pin"
    full = passes.forward + passes.backward
    later_parts = sum(int((recorded["broken_by"] >= k).sum() + (recorded["broken_by"] < 0).sum()) for k in (1, 2, 3))
    assert sum(recorded["passes"].values()) == full + 8 * later_parts


def test_autoattack_runs_only_attacks_its_version_has():
    model, (x, y) = TinyNet(), data(2)
    with pytest.raises(UserInputError, match="AutoAttack standard runs no apgd-dlr"):
        autoattack_robust(model, x, y, 1 / 255, "linf", attacks=["apgd-dlr"])


def test_a_replay_names_each_sample_only_autoattack_broke_with_its_margin():
    """Four correct samples, logits (0.9, 0.5, 0.1): margin (0.9 − 0.5) / (0.9 − 0.1) = 0.5 each.
    AutoAttack's record: sample 0 broken by APGD-CE, sample 2 by APGD-T. Our cascade breaks sample 0
    (stage a) and sample 1 (stage b, after a left it at margin 0.5): sample 2 is AutoAttack's alone,
    at margin 0.5, sample 1 ours alone; the ratio is ours over AutoAttack's 200 passes."""
    x, y = images([[0.9, 0.5, 0.1]] * 4)
    autoattack = {
        "correct": torch.ones(4, dtype=torch.bool),
        "broken_by": torch.tensor([0, -1, 1, -1]),
        "passes": {"apgd-ce": 150, "apgd-t": 50, "fab-t": 0, "square": 0},
        "eps": 1.0,
        "norm": "linf",
    }
    cascade = Cascade({"a": BreaksMarked({0.1}), "b": BreaksMarked({0.2})})
    outcome = cascade_replay.replay(FirstPixels(), x, y, cascade, autoattack)
    assert outcome["only_autoattack"] == {2: ("apgd-t", 0.5)}
    assert outcome["only_ours"] == 1
    a, b = outcome["stages"]["a"], outcome["stages"]["b"]
    assert (a["attacked"], a["broken"], a["margins_before"]) == (4, 1, [float("inf")])
    assert (b["attacked"], b["broken"], b["margins_before"]) == (3, 1, [0.5])
    assert outcome["passes"] == a["passes"] + b["passes"] > 0
    assert outcome["ratio"] == outcome["passes"] / 200
