"""The W&B workspace: built offline; every panel names metrics the callbacks really log."""

import re

import pytest
from pytorch_lightning.loggers import CSVLogger

from lightning_pse.attacks import presets
from lightning_pse.callbacks import CAMCallback, DissectionCallback, PSECallback, RobustEvalCallback
from lightning_pse.dashboard import build_workspace, main, panels
from lightning_pse.data import SyntheticDataModule
from lightning_pse.dissect import DissectionSettings
from lightning_pse.training import ClassifierModule, PGDATModule

from helpers import quiet_trainer


@pytest.fixture(scope="module")
def logged(trained_module, synthetic_data):
    """The metric names the four callbacks log with their default attacks (one validation run of a
    fresh module holding the trained weights: the shared one's metric states may be inference tensors)."""
    module = ClassifierModule(**trained_module.hparams)
    module.load_state_dict(trained_module.state_dict())
    probe = {"num_samples": 8, "batch_size": 8}
    callbacks = [
        RobustEvalCallback(**probe),
        PSECallback(**probe),
        CAMCallback(**probe),
        DissectionCallback(dissection=DissectionSettings(num_concept_images=16), **probe),
    ]
    trainer = quiet_trainer(callbacks=callbacks, inference_mode=False, limit_val_batches=1)
    trainer.validate(module, datamodule=synthetic_data, verbose=False)
    return set(trainer.callback_metrics)


def test_every_panel_names_logged_metrics(logged):
    for section, entries in panels(list(presets.pse_attacks())).items():
        for title, metrics in entries:
            if isinstance(metrics, list):
                missing = [m for m in metrics if m not in logged]
                assert not missing, (section, title, missing)
            else:
                assert any(re.fullmatch(metrics, key) for key in logged), (section, title, metrics)
    assert not any(re.fullmatch("pse/.*/promotion_fractions", key) for key in logged), "the check can fail"


def test_workspace_builds_offline_grouped_by_method():
    workspace = build_workspace("someone", "lightning_pse")
    names = [section.name for section in workspace.sections]
    assert names[0] == "Robustness" and names[-1] == "Tables"
    assert [g.name for g in workspace.runset_settings.groupby] == ["method"]
    lines = [panel for section in workspace.sections[:-1] for panel in section.panels]
    assert lines and all(panel.x == "epoch" for panel in lines)
    tables = [panel.table_name for panel in workspace.sections[-1].panels]
    assert tables == [f"pse/{a}/images" for a in presets.pse_attacks()]


def test_saving_without_wandb_online_is_a_one_line_error(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    with pytest.raises(SystemExit) as exit_info:
        main(["--entity", "someone"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: saving a workspace needs W&B online")


def test_training_names_its_method_in_the_logger_config(tmp_path):
    data = SyntheticDataModule(num_train=64, num_val=32, num_test=32, batch_size=32)
    module = PGDATModule(model="small_cnn", num_classes=10, steps=1, scheduler="none")
    logger = CSVLogger(tmp_path)
    trainer = quiet_trainer(max_steps=1, limit_val_batches=0, logger=logger)
    trainer.fit(module, datamodule=data)
    assert logger.experiment.hparams["method"] == "PGDATModule"
