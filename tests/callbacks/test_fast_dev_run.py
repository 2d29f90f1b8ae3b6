"""Under ``fast_dev_run`` every analysis callback measures once, on one small probe batch, with its
attacks at their smallest budget: Lightning's smoke run checks that everything runs, in seconds."""

import copy

from lightning_pse.attacks import presets
from lightning_pse.attacks.base import Attack
from lightning_pse.callbacks import CAMCallback, DissectionCallback, PSECallback, RobustEvalCallback
from lightning_pse.callbacks.schedule import SMOKE_SAMPLES
from lightning_pse.dissect import DissectionSettings

from helpers import quiet_trainer


def test_every_callback_runs_once_on_one_batch_at_the_smallest_budget(
    trained_module, synthetic_data, monkeypatch, capsys
):
    calls = []  # (attack class, budget, images) of every attack run
    real_run = Attack.run

    def recording_run(self, model, x, *args, **kwargs):
        calls.append((type(self).__name__, self.budget(), x.shape[0]))
        return real_run(self, model, x, *args, **kwargs)

    monkeypatch.setattr(Attack, "run", recording_run)
    module = copy.deepcopy(trained_module).train()  # a trained model: its probe images are attacked
    # The CPU configs' callbacks, as configs/callbacks/cpu.yaml builds them.
    callbacks = [
        RobustEvalCallback(num_samples=500),
        PSECallback(every_n_epochs=3, num_samples=32),
        CAMCallback(every_n_epochs=3, num_samples=32),
        DissectionCallback(every_n_epochs=5, num_samples=256, dissection=DissectionSettings(num_concept_images=256)),
    ]
    full_budgets = [presets.robust_eval().budget(), presets.sensitivity().budget()]  # what they would run
    trainer = quiet_trainer(fast_dev_run=True, callbacks=callbacks)
    trainer.fit(module, datamodule=synthetic_data)
    assert min(full_budgets) > 5, "the defaults are not already small: the test would prove nothing"
    for callback in callbacks:
        assert callback.results, f"{type(callback).__name__} measured"
        assert callback.num_samples == SMOKE_SAMPLES
    assert calls and all(budget <= 5 and images <= SMOKE_SAMPLES for _, budget, images in calls), calls
    assert callbacks[3].settings.num_concept_images == SMOKE_SAMPLES
    printed = capsys.readouterr().err
    assert printed.count("fast_dev_run: ") == 4 and "DissectionCallback measures 4 probe images" in printed
