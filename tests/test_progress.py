"""Progress a person can trust: every attack's bar advances step by step (restarts and target classes
included) up to its budget, sections show a bar with the attack bars under it, ``lines`` mode (logs,
``--quiet``) prints one line per finished section, and a callback's measurement shows its stage on
rank 0. Checked on captured output, never on timing."""

import functools
import logging
import re
import time

import pytest
import torch
from torch import nn
from tqdm import tqdm

from lightning_pse import progress
from lightning_pse.analysis import evaluate
from lightning_pse.attacks import APGD, CW, EAD, FGSM, PGD, Square, StrAttack
from lightning_pse.callbacks import RobustEvalCallback
from lightning_pse.progress import showing, stage, step_done
from lightning_pse.sections.autoattack import attack_by_attack_progress

from helpers import quiet_trainer


@pytest.fixture(autouse=True)
def every_update_drawn(monkeypatch):
    """tqdm draws every update, however fast they come (it skips some by the clock otherwise)."""
    monkeypatch.setattr(progress, "tqdm", functools.partial(tqdm, mininterval=0, miniters=1))


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    layers = [nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5)]
    return nn.Sequential(*layers)


def counts(text: str, description: str) -> list[tuple[int, int]]:
    """Every ``n/total`` a bar named ``description`` drew, in order."""
    pattern = re.escape(description) + r"[^\r\n]*?(\d+)/(\d+) \["
    return [(int(n), int(total)) for n, total in re.findall(pattern, text)]


@pytest.mark.parametrize(
    "attack",
    [
        PGD(eps=0.05, steps=4, restarts=2, seed=0),
        FGSM(eps=0.05),
        APGD(eps=0.05, steps=4, seed=0),
        APGD(eps=0.05, steps=3, loss="ce", targeted=True, n_target_classes=2, seed=0),
        APGD(eps=2.0, steps=5, norm="l1", seed=0),  # three phases: a gradient at the start of each
        CW(steps=3, binary_search_steps=2, abort_early=False),
        EAD(steps=3, binary_search_steps=2),
        StrAttack(steps=2, binary_search_steps=1, refine_steps=2),
        Square(eps=0.05, n_queries=6, seed=0),
    ],
    ids=lambda attack: type(attack).__name__,
)
def test_every_attack_bar_advances_step_by_step_within_its_budget(attack, capsys):
    model, x = tiny_model(), torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = model(x).argmax(1)  # every sample correct: nothing is skipped as already fooled
    with showing("bars"):
        attack(model, x, y)
    drawn = counts(capsys.readouterr().err, f"{attack.describe()} on 4 images")
    assert drawn, "the attack drew a bar"
    assert {total for _, total in drawn} == {attack.budget()}
    steps = [n for n, _ in drawn]
    assert steps == sorted(steps) and steps[0] == 0
    assert 1 <= steps[-1] <= attack.budget() and len(set(steps)) == steps[-1] + 1, "one step at a time"
    if not isinstance(attack, (Square, APGD, StrAttack)):  # these may skip work (all fooled; nothing to refine)
        assert steps[-1] == attack.budget(), "every step of the budget was reported"


def test_nothing_is_shown_outside_showing(capsys):
    x, y = torch.rand(2, 3, 8, 8), torch.zeros(2, dtype=torch.long)
    PGD(eps=0.05, steps=3)(tiny_model(), x, y)
    with stage("a stage", 2) as bar:
        bar.update()
    assert capsys.readouterr().err == ""


def test_lines_mode_prints_one_line_per_finished_outer_stage(capsys):
    with showing("lines"):
        with stage("robustness", 2) as bar:
            with stage("inner", 1):
                step_done()
            bar.update(2)
        with pytest.raises(RuntimeError), stage("failing", 1):
            raise RuntimeError
    err = capsys.readouterr().err
    assert "\r" not in err
    assert re.fullmatch(r"robustness: done in \d+ s\n", err), err


def test_an_analysis_shows_section_bars_with_attack_bars_under_them(capsys):
    model, x = tiny_model(), torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        data = (x, model(x).argmax(1))  # every sample correct, so every batch is attacked
    attack = PGD(eps=0.05, steps=3, seed=0)
    evaluate(model, data, ["robustness"], attacks={"pgd": attack}, batch_size=3, progress="bars")
    err = capsys.readouterr().err
    assert [n for n, _ in counts(err, "robustness")][-1] == 2, "the section bar counted its 2 batches"
    attack_bars = counts(err, f"{attack.describe()} on 3 images")
    assert [n for n, _ in attack_bars].count(3) >= 2, "each batch's attack bar reached its 3 steps"

    evaluate(model, data, ["robustness"], attacks={"pgd": attack}, batch_size=3, progress="lines")
    err = capsys.readouterr().err
    assert re.fullmatch(r"robustness: done in \d+ s\n", err), err


def test_autoattack_progress_advances_per_finished_attack_and_stays_out_of_the_log(capsys, caplog):
    logger = logging.getLogger("auto-attack")
    with caplog.at_level(logging.DEBUG), showing("bars"):
        with attack_by_attack_progress(["apgd-ce", "apgd-t"]):
            logger.debug("running apgd-ce")
            logger.debug("robust accuracy after APGD-CE: 50.00% (total time 1.0 s)")
            logger.debug("robust accuracy after APGD-T: 40.00% (total time 2.0 s)")
    drawn = counts(capsys.readouterr().err, "AutoAttack (apgd-ce, apgd-t)")
    assert sorted({n for n, _ in drawn}) == [0, 1, 2] and {t for _, t in drawn} == {2}
    assert not [r for r in caplog.records if r.name == "auto-attack"], "AutoAttack's messages reach no log"
    assert logger.propagate and not logger.handlers, "the logger is left as it was"


def test_a_callback_measurement_is_one_line_on_rank_zero_in_a_log(trained_module, synthetic_data, capsys):
    callback = RobustEvalCallback(PGD(eps=8 / 255, steps=2, seed=0), num_samples=8, batch_size=4)
    trainer = quiet_trainer()
    trainer.validate(trained_module, datamodule=synthetic_data, verbose=False)  # no callback: nothing shown
    assert "RobustEvalCallback" not in capsys.readouterr().err
    trainer = quiet_trainer(callbacks=[callback])
    trainer.validate(trained_module, datamodule=synthetic_data, verbose=False)
    err = capsys.readouterr().err  # pytest's capture is not a terminal: lines mode
    assert re.search(r"^RobustEvalCallback \(epoch 0\): done in \d+ s$", err, re.M), err


class SlowModel(nn.Module):
    """``tiny_model`` taking ``delay`` seconds per forward pass: an attack long enough to need a heartbeat."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.net, self.delay = tiny_model(), delay

    def forward(self, x):
        time.sleep(self.delay)
        return self.net(x)


HEARTBEAT = re.compile(
    r"^robustness: (\d+)/2 batches, \d+ s so far(, about \d+ s left)?( \(now: PGD\(.*\) on 3 images, step (\d+)/12\))?$"
)


def test_lines_mode_prints_a_heartbeat_while_a_stage_runs(monkeypatch, capsys):
    """In a log, a long section says every few seconds how far it is and which attack step runs."""
    monkeypatch.setenv("LIGHTNING_PSE_HEARTBEAT_SECONDS", "0.1")
    model, x = SlowModel(0.02), torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        data = (x, model(x).argmax(1))
    attack = PGD(eps=0.05, steps=12, seed=0)  # 2 batches × 12 steps × 2 passes of 20 ms: about 1 s
    evaluate(model, data, ["robustness"], attacks={"pgd": attack}, batch_size=3, progress="lines")
    lines = capsys.readouterr().err.splitlines()
    assert re.fullmatch(r"robustness: done in \d+ s", lines[-1]), lines
    beats = [HEARTBEAT.fullmatch(line) for line in lines[:-1]]
    assert len(beats) >= 3 and all(beats), lines
    steps = [int(beat.group(4)) for beat in beats if beat.group(4)]
    assert steps and max(steps) <= 12, "the attack's step is named, within its budget"
    done = [int(beat.group(1)) for beat in beats]
    assert done == sorted(done), "batches done only grow"


def test_no_heartbeat_outlives_its_stage_or_shows_outside_lines_mode(monkeypatch, capsys):
    monkeypatch.setenv("LIGHTNING_PSE_HEARTBEAT_SECONDS", "0.05")
    with showing("lines"), stage("short", 1) as bar:
        bar.update()
    time.sleep(0.2)
    assert re.fullmatch(r"short: done in \d+ s\n", capsys.readouterr().err)
    with stage("silent", 1):
        time.sleep(0.2)
    assert capsys.readouterr().err == ""
