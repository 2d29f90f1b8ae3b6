"""The per-epoch analysis callbacks: schedule, probe set, thin layer over the pure functions,
model untouched, W&B media, and the same numbers on 1 and 2 DDP processes."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import yaml
from pytorch_lightning.loggers import CSVLogger
from torch.utils.data import DataLoader

from lightning_pse.attacks import CW, PGD
from lightning_pse.callbacks import CAMCallback, DissectionCallback, PSECallback, RobustEvalCallback
from lightning_pse.cam import cam_agreement, localization, saliency_agreement
from lightning_pse.data import SyntheticDataModule
from lightning_pse.dissect import (
    DEFAULT_DISSECTION,
    DissectionSettings,
    SyntheticConcepts,
    attack_sensitivity,
    dissect,
    dissection_summary,
)
from lightning_pse.errors import UserInputError
from lightning_pse.output.wandb_logger import WandbLogger
from lightning_pse.pse import PSESettings, PSEShares, analyze_attack
from lightning_pse.training import ClassifierModule, PGDATModule

from helpers import REPO, quiet_trainer


def deterministic_pgd():
    # No random start: per-sample results do not depend on how samples are batched.
    return PGD(eps=16 / 255, steps=10, targeted=True, target_rule="least_likely", random_start=False)


def test_pse_callback_logs_what_the_pure_functions_compute(trained_module, synthetic_data):
    callback = PSECallback(attacks={"pgd": deterministic_pgd()}, num_samples=24, batch_size=8)
    metrics = quiet_trainer(callbacks=[callback]).validate(trained_module, datamodule=synthetic_data, verbose=False)[0]
    # The same analysis by hand, on the correctly classified probe samples in one batch.
    probe = synthetic_data.probe_set(24)
    x = torch.stack([probe[i]["image"] for i in range(len(probe))])
    y = torch.tensor([probe[i]["label"] for i in range(len(probe))])
    model = trained_module.model
    with torch.no_grad():
        correct = model(x).argmax(1) == y
    attacked, pse = analyze_attack(model, deterministic_pgd(), x[correct], y[correct])
    shares = PSEShares()
    shares.update(pse)
    expected = shares.compute()
    assert metrics["pse/pgd/success_rate"] == pytest.approx(attacked.success.float().mean().item(), abs=1e-6)
    assert 0 < metrics["pse/pgd/success_rate"]
    for key in ("suppression_share", "promotion_share", "balanced_share", "promotion_energy", "mean_psr"):
        assert metrics[f"pse/pgd/{key}"] == pytest.approx(expected[key].item(), rel=1e-5, abs=1e-6), key
    # The per-image records are exactly the correctly classified samples the attack fooled.
    fooled = torch.nonzero(correct).flatten()[attacked.success]
    assert callback.results["pse"]["pse"]["attacks"]["pgd"]["records"]["index"] == fooled.tolist()


def test_pse_callback_leaves_the_model_untouched(trained_module, synthetic_data):
    before = {k: v.clone() for k, v in trained_module.state_dict().items()}
    trained_module.train()
    callback = PSECallback(attacks={"pgd": deterministic_pgd()}, num_samples=8, batch_size=8)

    class CheckMode(pl.Callback):
        def on_validation_epoch_end(self, trainer, pl_module):
            self.flags = [m.training for m in pl_module.modules()]

    check = CheckMode()
    quiet_trainer(callbacks=[check, callback]).validate(trained_module, datamodule=synthetic_data, verbose=False)
    modes_after = [m.training for m in trained_module.modules()]
    trained_module.eval()
    assert not any(check.flags), "validation runs in eval mode"
    assert all(modes_after), "train mode restored after validate"
    after = trained_module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "parameters and BN statistics unchanged"
    assert all(p.grad is None for p in trained_module.parameters())


@pytest.mark.slow
def test_pse_callback_runs_every_n_epochs_and_at_the_last(tmp_path):
    data = SyntheticDataModule(num_train=128, num_val=64, num_test=32, batch_size=64)
    module = ClassifierModule(
        model="small_cnn", num_classes=data.num_classes, mean=data.mean, std=data.std, scheduler="none", lr=0.05
    )
    callback = PSECallback(
        attacks={"pgd": PGD(steps=2, targeted=True, seed=0)},
        pse=PSESettings(estimator="gradient"),
        every_n_epochs=2,
        num_samples=8,
        batch_size=8,
    )
    trainer = quiet_trainer(max_epochs=3, callbacks=[callback], logger=CSVLogger(tmp_path), log_every_n_steps=1)
    trainer.fit(module, datamodule=data)
    with open(Path(trainer.logger.log_dir) / "metrics.csv") as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f) if row["pse/pgd/success_rate"]]
    assert epochs == [1, 2], "epoch 2 of 3 (every 2) and the last epoch"


def probe_tensors(data, num_samples):
    probe = data.probe_set(num_samples)
    items = [probe[i] for i in range(len(probe))]
    return {k: torch.stack([torch.as_tensor(item[k]) for item in items]) for k in items[0]}


def test_cam_callback_logs_what_the_pure_functions_compute(trained_module, synthetic_data, tmp_path):
    callback = CAMCallback(attacks={"pgd": deterministic_pgd()}, num_samples=24, batch_size=24, num_media=4)
    logger = WandbLogger(save_dir=str(tmp_path), offline=True)
    metrics = quiet_trainer(callbacks=[callback], logger=logger).validate(
        trained_module, datamodule=synthetic_data, verbose=False
    )[0]
    probe = probe_tensors(synthetic_data, 24)
    model = trained_module.model
    with torch.no_grad():
        correct = model(probe["image"]).argmax(1) == probe["label"]
    x, y = probe["image"][correct], probe["label"][correct]
    overlap, hit = localization(model, x, y, probe["object_mask"][correct])
    assert metrics["cam/localization_iou"] == pytest.approx(overlap.nanmean().item(), rel=1e-5)
    assert metrics["cam/pointing_game"] == pytest.approx(hit.float().mean().item(), rel=1e-5)
    attacked, pse = analyze_attack(model, deterministic_pgd(), x, y)
    won = attacked.success
    scores = cam_agreement(model, x[won], attacked.x_adv[won], y[won], attacked.target[won], pse, seed=0)
    for key in (
        "agreement_suppression_true",
        "baseline_suppression_true",
        "agreement_promotion_target",
        "baseline_promotion_target",
        "cam_shift",
    ):
        assert metrics[f"cam/pgd/{key}"] == pytest.approx(getattr(scores, key).nanmean().item(), rel=1e-4), key
    asm = saliency_agreement(model, x[won], attacked.x_adv[won], y[won], attacked.target[won])
    assert metrics["cam/pgd/asm_interpretability"] == pytest.approx(asm.nanmean().item(), rel=1e-4)
    assert list((Path(logger.run_dir) / "files" / "media").glob("images/cam/cam_overlays_*.png"))
    logger.experiment.finish()


class BrokenMediaLogger(WandbLogger):
    def log_image(self, *args, **kwargs):
        raise RuntimeError("W&B media store unreachable")

    log_table = log_image


def test_pse_callback_writes_wandb_media_offline(trained_module, synthetic_data, tmp_path):
    callback = PSECallback(attacks={"pgd": deterministic_pgd()}, num_samples=16, batch_size=8, num_media=4)
    logger = WandbLogger(save_dir=str(tmp_path), offline=True)
    quiet_trainer(callbacks=[callback], logger=logger).validate(
        trained_module, datamodule=synthetic_data, verbose=False
    )
    files = Path(logger.run_dir) / "files" / "media"
    assert list(files.glob("images/pse/examples/pgd_*.png"))
    assert list(files.glob("images/pse/psr_histogram_*.png")) and list(files.glob("images/pse/category_shares_*.png"))
    tables = list(files.glob("table/pse/pgd/images_*.table.json"))
    assert tables
    table = json.loads(tables[0].read_text())
    assert table["columns"][:2] == ["probe_index", "label"]
    assert len(table["data"]) == len(callback.results["pse"]["pse"]["attacks"]["pgd"]["records"]["index"]) > 0
    logger.experiment.finish()


def test_failing_media_do_not_stop_validation(trained_module, synthetic_data, tmp_path):
    # A large ε, so that some examples succeed and there are media to log.
    strong = PGD(eps=64 / 255, steps=10, targeted=True, target_rule="least_likely", random_start=False)
    callback = PSECallback(attacks={"pgd": strong}, num_samples=8, batch_size=8)
    logger = BrokenMediaLogger(save_dir=str(tmp_path), offline=True)
    try:
        with pytest.warns(UserWarning, match="could not log W&B media"):
            metrics = quiet_trainer(callbacks=[callback], logger=logger).validate(
                trained_module, datamodule=synthetic_data, verbose=False
            )[0]
    finally:
        logger.experiment.finish()
    assert metrics["pse/pgd/success_rate"] > 0


def test_dissection_callback_logs_what_the_pure_functions_compute(trained_module, synthetic_data, tmp_path):
    attack = PGD(eps=8 / 255, steps=3, seed=0)
    callback = DissectionCallback(
        layers=["body.0", "body.7"],
        attack=attack,
        dissection=DissectionSettings(num_concept_images=64),
        num_samples=32,
        batch_size=16,
    )
    logger = WandbLogger(save_dir=str(tmp_path), offline=True)
    try:
        metrics = quiet_trainer(callbacks=[callback], logger=logger).validate(
            trained_module, datamodule=synthetic_data, verbose=False
        )[0]
    finally:
        logger.experiment.finish()
    model = trained_module.model
    concepts = SyntheticConcepts.like(synthetic_data, 64, seed=3)
    probe = probe_tensors(synthetic_data, 32)
    x, y = probe["image"], probe["label"]
    for layer in ("body.0", "body.7"):
        result = dissect(model, layer, DataLoader(concepts, batch_size=64))
        sensitivity = attack_sensitivity(model, layer, attack, [(x[:16], y[:16]), (x[16:], y[16:])])
        expected = dissection_summary(result, sensitivity)
        for key in (
            "interpretable_units",
            "spearman_sensitivity_iou",
            "topk_detector_share",
            "bottomk_detector_share",
            "randomk_detector_share",
            "topk_mean_iou",
        ):
            assert metrics[f"dissect/{layer}/{key}"] == pytest.approx(expected[key], rel=1e-5, abs=1e-6), key
        for category, counts in expected["detectors_per_category"].items():
            assert metrics[f"dissect/{layer}/{category}_detectors"] == counts["units"]
    assert metrics["dissect/body.7/shape_detectors"] > 0 and metrics["dissect/body.0/color_detectors"] > 0
    media = Path(logger.run_dir) / "files" / "media"
    table = json.loads(next(media.glob("table/dissect/body.7/units_*.table.json")).read_text())
    assert (
        table["columns"] == ["unit", "concept", "category", "iou", "sensitivity", "detector"]
        and len(table["data"]) == 128
    )
    assert list(media.glob("images/dissect/body.0/sensitivity_vs_iou_*.png"))


def test_dissection_callback_names_a_missing_broden_dir(trained_module, tmp_path):
    data = SyntheticDataModule(num_train=8, num_val=8, num_test=8)
    callback = DissectionCallback(dissection=DissectionSettings(broden_dir=str(tmp_path / "missing")), num_samples=4)
    with pytest.raises(UserInputError, match="does not exist"):
        quiet_trainer(callbacks=[callback]).validate(trained_module, datamodule=data, verbose=False)


def erring(state: dict) -> dict:
    """``state`` with the classifier's bias for class 0 raised by 6: the session model is right on
    99–100 % of the validation images, this one on about 94 %, so a sample counted twice would
    change ``val/acc``."""
    bias = state["model.classifier.bias"].clone()
    bias[0] += 6.0
    return {**state, "model.classifier.bias": bias}


@pytest.fixture(scope="module", params=[20, 4], ids=["ranks_share_5_batches", "second_rank_has_no_batch"])
def ddp_metrics(request, trained_module, tmp_path_factory):
    """Metrics of ``tests/ddp_validate.py`` on 1 and on 2 processes, for a probe set of 20 samples
    (5 batches: 3 and 2 per rank) and of 4 (one batch: the second rank measures nothing)."""
    probe_samples = request.param
    root = tmp_path_factory.mktemp(f"ddp{probe_samples}")
    state = root / "state.pt"
    torch.save(erring(trained_module.state_dict()), state)
    runs = {}
    for devices in (1, 2):
        out = root / f"metrics_{devices}.json"
        script = REPO / "tests" / "ddp_validate.py"
        result = subprocess.run(
            [sys.executable, str(script), str(state), str(out), str(devices), str(probe_samples)],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        runs[devices] = json.loads(out.read_text())
    assert runs[2]["world_size"] == 2
    assert runs[1]["metrics"]["val/acc"] < 1, "a perfect model would hide a sample counted twice"
    return runs[1]["metrics"], runs[2]["metrics"]


@pytest.mark.parametrize(
    "prefix", ["pse/", "cam/", "dissect/", "val/robust_acc", "val/probe_clean_acc", "val/acc", "val/loss"]
)
@pytest.mark.slow
def test_callback_metrics_are_equal_on_one_and_two_processes(ddp_metrics, prefix):
    single, double = ddp_metrics
    keys = sorted(k for k in single if k.startswith(prefix))
    assert keys and keys == sorted(k for k in double if k.startswith(prefix))
    assert any(single[k] == single[k] for k in keys), "some number measured (NaN: nothing was fooled)"
    for key in keys:
        assert double[key] == pytest.approx(single[key], rel=1e-5, abs=1e-6, nan_ok=True), key


@pytest.mark.slow
def test_callbacks_do_not_change_what_training_does():
    """Two epochs with and without measuring callbacks end in the same weights: the probe and
    concept loaders draw from private generators, so the global random stream that shuffles the
    training data and starts PGD is the same (a DataLoader iterator draws its base seed from it)."""

    def train(callbacks):
        pl.seed_everything(0, verbose=False)
        data = SyntheticDataModule(num_train=128, num_val=32, num_test=8, batch_size=32)
        module = PGDATModule(
            model="small_cnn", num_classes=data.num_classes, mean=data.mean, std=data.std, steps=1, scheduler="none"
        )
        quiet_trainer(max_epochs=2, callbacks=callbacks).fit(module, datamodule=data)
        return module.state_dict()

    plain = train([])
    measured = train(
        [
            RobustEvalCallback(attack=PGD(steps=1, seed=0), num_samples=16, batch_size=8),
            DissectionCallback(
                attack=PGD(steps=1, seed=0),
                dissection=DissectionSettings(num_concept_images=8),
                num_samples=8,
                every_n_epochs=1,
            ),
        ]
    )
    assert all(torch.equal(plain[k], measured[k]) for k in plain)


def test_pse_and_cam_callbacks_share_one_attack_run_per_probe_batch(trained_module, synthetic_data, monkeypatch):
    """Equal attacks (same class and settings, seeded) on the same probe batches in one validation
    run: each batch is attacked once for both callbacks, and a new validation run attacks again."""
    runs = []
    real_perturb = PGD.perturb
    monkeypatch.setattr(PGD, "perturb", lambda self, *args: runs.append(1) or real_perturb(self, *args))

    def attack():
        return {"pgd": PGD(eps=16 / 255, steps=2, targeted=True, seed=0)}

    probe = dict(num_samples=16, batch_size=8)
    callbacks = [
        PSECallback(attacks=attack(), pse=PSESettings(estimator="gradient"), **probe),
        CAMCallback(attacks=attack(), pse=PSESettings(estimator="gradient"), **probe),
    ]
    trainer = quiet_trainer(callbacks=callbacks)
    metrics = trainer.validate(trained_module, datamodule=synthetic_data, verbose=False)[0]
    assert len(runs) == 2, "two probe batches, one PGD run each"
    assert metrics["pse/pgd/success_rate"] > 0 and metrics["cam/pgd/cam_shift"] == metrics["cam/pgd/cam_shift"]
    trainer.validate(trained_module, datamodule=synthetic_data, verbose=False)
    assert len(runs) == 4, "the next validation run measures afresh"


@pytest.mark.parametrize(
    "attack, threat, judged",
    [
        (PGD(eps=0.05, steps=1), ("linf", 0.1), ("linf", 0.05)),  # a bounded attack: its own radius
        (CW(steps=1), ("l2", 0.25), ("l2", 0.25)),  # unbounded, in the model's norm: the model's ε
        (CW(steps=1), ("linf", 0.1), ("l2", 0.5)),  # unbounded, another norm: its reference radius
        (None, ("l2", 0.25), ("l2", 0.25)),  # the default PGD-20 at the model's threat model
    ],
)
def test_robust_eval_judges_its_attack_where_the_robustness_section_does(attack, threat, judged):
    callback = RobustEvalCallback(attack=attack)
    callback.use_threat_model(*threat)
    assert (callback.section.norm, callback.section.eps) == judged
    assert callback.section.in_threat_model(callback.attack)


def test_callbacks_take_their_sections_settings_whole_from_nested_yaml(tmp_path):
    """``pse:``, ``cam:`` and ``dissection:`` blocks of a config reach the callbacks' sections as
    the settings objects, every field not named keeping its default."""
    from lightning_pse.data import ImageDataModule
    from lightning_pse.training.cli import LightningPseCLI

    spec = {
        "trainer": {
            "logger": False,
            "callbacks": [
                {
                    "class_path": "lightning_pse.callbacks.PSECallback",
                    "init_args": {"pse": {"estimator": "gradient", "tau": 0.5}},
                },
                {"class_path": "lightning_pse.callbacks.CAMCallback", "init_args": {"cam": {"method": "grad_cam"}}},
                {
                    "class_path": "lightning_pse.callbacks.DissectionCallback",
                    "init_args": {"dissection": {"quantile": 0.01}},
                },
            ],
        },
        "model": {"class_path": "lightning_pse.training.ClassifierModule", "init_args": {"num_classes": 10}},
        "data": {"class_path": "lightning_pse.data.SyntheticDataModule", "init_args": {"num_train": 64}},
    }
    config = tmp_path / "nested.yaml"
    config.write_text(yaml.safe_dump(spec))
    cli = LightningPseCLI(
        ClassifierModule,
        ImageDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        run=False,
        args=["--config", str(config), "--trainer.default_root_dir", str(tmp_path)],
    )
    pse, cam, dissection = [
        c for c in cli.trainer.callbacks if isinstance(c, (PSECallback, CAMCallback, DissectionCallback))
    ]
    assert pse.pse == PSESettings(estimator="gradient", tau=0.5)
    assert cam.cam.method == "grad_cam" and cam.pse == PSESettings()
    for callback in (pse, cam):  # the sections are built once the threat model is known, with these settings
        callback.use_threat_model("linf", 8 / 255)
    assert pse.section.settings == pse.pse and cam.section.cam["method"] == "grad_cam"
    assert (
        dissection.settings.quantile == 0.01 and dissection.settings.iou_threshold == DEFAULT_DISSECTION.iou_threshold
    )
