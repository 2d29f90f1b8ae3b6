"""analyze options come from one declaration: ``Analysis``'s signature and the sections' settings
dataclasses (``PSESettings``, ``CAMSettings``, ``DissectionSettings``), the same objects the
callbacks take; each section checks its own prerequisites, and only when it is asked for."""

from __future__ import annotations

import inspect
from dataclasses import asdict, fields
from types import SimpleNamespace

import pytest
import torch

from lightning_pse.analysis.engine import Analysis
from lightning_pse.analysis.options import NOT_FROM_ANALYSIS, analysis_settings, build_parser, parse
from lightning_pse.analysis.registry import REGISTRY
from lightning_pse.attacks import PGD
from lightning_pse.callbacks import DissectionCallback
from lightning_pse.cam import CAMSettings
from lightning_pse.dissect import DissectionSettings
from lightning_pse.errors import UserInputError
from lightning_pse.pse import PSESettings

LIGHT = {
    "attacks": {"pgd": PGD(eps=8 / 255, steps=1, seed=0)},
    "pse_attacks": {"pgd": PGD(eps=8 / 255, steps=1, targeted=True, seed=0)},
    "sensitivity_attack": PGD(eps=8 / 255, steps=1, seed=0),
    "num_samples": 4,
    "progress": "lines",
}


def test_every_analysis_keyword_is_an_option_with_its_default_and_help():
    """A keyword added to ``Analysis`` is an ``analyze.py`` option with the same default, and its
    docstring entry is the option's help: nothing to declare twice."""
    parser = build_parser()
    keywords = [p for p in inspect.signature(Analysis.__init__).parameters.values() if p.name != "self"]
    taken = [p for p in keywords if p.name not in NOT_FROM_ANALYSIS]
    assert {p.name for p in taken} >= {"num_samples", "split", "seed", "norm", "min_fooled", "pse", "cam", "dissection"}
    helps = {a.dest: a.help or "" for a in parser._actions}
    for keyword in taken:
        default = parser.get_defaults()[keyword.name]
        if keyword.name in REGISTRY and REGISTRY[keyword.name].settings:  # one option per field, its default
            assert default.as_dict() == asdict(keyword.default), keyword.name
            for field in fields(keyword.default):
                assert f"{keyword.name}.{field.name}" in helps, (keyword.name, field.name)
        else:
            assert default == keyword.default, keyword.name
            assert helps[keyword.name].strip(), f"--{keyword.name} has no help"
    assert "size of the probe set" in helps["num_samples"]  # from Analysis's docstring
    assert "the concept probe set" in helps["dissection.probe"]  # from DissectionSettings's docstring


def test_parsed_options_become_the_settings_objects_analysis_takes():
    options = parse(["--pse.tau", "2", "--cam.threshold", "0.3", "--dissection.num_concept_images", "8"]).options
    settings = analysis_settings(options)
    assert settings["pse"] == PSESettings(tau=2.0)
    assert settings["cam"] == CAMSettings(threshold=0.3)
    assert settings["dissection"] == DissectionSettings(num_concept_images=8)
    assert set(settings) == set(inspect.signature(Analysis.__init__).parameters) - NOT_FROM_ANALYSIS - {"self"}


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--cam.threshold", "1.5"], "cam.threshold must lie in [0, 1], got 1.5"),
        (["--cam.draws", "0"], "cam.draws must be at least 1, got 0"),
        (["--dissection.num_concept_images", "0"], "dissection.num_concept_images must be at least 1, got 0"),
        (["--dissection.fractions", "[0.0, 1.0]"], "dissection.fractions must lie in [0, 1)"),
        (["--dissection.stability_draws", "-1"], "dissection.stability_draws must be 0 (off)"),
        (["--pse.tau", "-1"], "need τ ≥ 0"),
    ],
)
def test_a_setting_out_of_range_is_one_line_at_parse_time(argv, words):
    with pytest.raises(UserInputError) as raised:
        parse(argv)
    assert words in str(raised.value) and "\n" not in str(raised.value)


def test_the_range_ends_are_allowed():
    """The closed ends of each range are values, not errors: a region at the map's maximum only, a
    one-image concept set, no masking (fraction 0), no label-stability draws."""
    assert CAMSettings(threshold=1.0).threshold == 1.0 and CAMSettings(threshold=0.0, draws=1).draws == 1
    assert DissectionSettings(num_concept_images=1, stability_draws=0, fractions=[0.0]).num_concept_images == 1
    assert PSESettings(tau=0.0, rho=1.0).rho == 1.0


def test_a_section_checks_its_own_prerequisites_only_when_asked_for(trained_model, synthetic_data):
    """A CAM layer the model lacks stops a CAM analysis before any work and is none of a robustness
    analysis's business; likewise masking's one process and label stability's."""
    missing = CAMSettings(layer="body.nope")
    with pytest.raises(UserInputError, match="body.nope"):
        Analysis(trained_model, synthetic_data, ["cam"], cam=missing, **LIGHT)
    analysis = Analysis(trained_model, synthetic_data, ["robustness"], cam=missing, **LIGHT)
    assert analysis.sections == ["robustness"] and analysis.concepts is None and analysis.ranking_probe is None
    spread = {**LIGHT, "devices": 2, "device": "cpu"}
    with pytest.raises(UserInputError, match="masking section runs in one process"):
        Analysis(trained_model, synthetic_data, ["masking"], **spread)
    stable = DissectionSettings(stability_draws=2, num_concept_images=8)
    with pytest.raises(UserInputError, match="label stability"):
        Analysis(trained_model, synthetic_data, ["dissection"], dissection=stable, **spread)
    assert Analysis(trained_model, synthetic_data, ["pse"], dissection=stable, **spread).concepts is None


def test_cam_on_a_model_without_its_head_runs_grad_cam_and_says_so(trained_model, synthetic_data):
    at_feature_layer = Analysis(trained_model, synthetic_data, ["cam"], **LIGHT)
    assert at_feature_layer.cam == CAMSettings(method="cam", layer=None)
    elsewhere = Analysis(trained_model, synthetic_data, ["cam"], cam=CAMSettings(layer="body.4"), **LIGHT)
    assert elsewhere.cam == CAMSettings(method="grad_cam", layer="body.4")
    assert elsewhere.settings()["cam"] == asdict(elsewhere.cam)


def test_the_dissection_callback_takes_its_concept_settings_whole():
    """``layers`` default to ``dissection.layer``; the smoke mode shrinks the concept set inside the
    settings; label stability under DDP is refused in ``setup``'s check, before any epoch."""
    callback = DissectionCallback(dissection=DissectionSettings(layer="body.4", num_concept_images=300))
    assert callback.layers == ["body.4"]
    callback.attack = PGD(steps=3, seed=0)
    callback.use_cheapest_attacks()
    assert callback.settings.num_concept_images < 300 and callback.settings.layer == "body.4"
    stable = DissectionCallback(dissection=DissectionSettings(stability_draws=2))
    with pytest.raises(UserInputError, match="runs in one process"):
        stable.check(SimpleNamespace(world_size=2, datamodule=None), torch.nn.Identity(), torch.zeros(1, 3, 8, 8))
