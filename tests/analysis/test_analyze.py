"""``analyze.py``: report schema and content, the same numbers as the pure functions, atomic
output, and clear refusals of bad input (unsafe, truncated or missing checkpoints, mismatches)."""

import base64
import io
import json
import os
import re

import pytest
import torch
import yaml
from PIL import Image

from lightning_pse.analysis.findings import findings
from lightning_pse.attacks import APGD, CW, PGD, Square, presets
from lightning_pse.callbacks import CAMCallback, DissectionCallback, PSECallback, RobustEvalCallback
from lightning_pse.checkpoints import check_fits, load_datamodule, load_module, read_checkpoint
from lightning_pse.dissect import DissectionSettings
from lightning_pse.errors import UserInputError
from lightning_pse.pse import PSESettings
from lightning_pse.sections import AttackRuns, CAMSection, ProbeBatch, PSESection
from lightning_pse.sections.pse import ground_truth_specificity
from lightning_pse.training import ClassifierModule

from helpers import call_analyze, error_lines, quiet_trainer, run_analyze

LIGHT = {
    "attacks": {
        "pgd5": {"class_path": "lightning_pse.attacks.PGD", "init_args": {"steps": 5, "seed": 0}},
        "apgd_ce": {"class_path": "lightning_pse.attacks.APGD", "init_args": {"steps": 10, "seed": 0}},
        "cw_l2": {"class_path": "lightning_pse.attacks.CW", "init_args": {"steps": 20, "binary_search_steps": 2}},
        "square": {"class_path": "lightning_pse.attacks.Square", "init_args": {"n_queries": 50, "seed": 0}},
    },
    "pse_attacks": {
        "pgd": {
            "class_path": "lightning_pse.attacks.PGD",
            "init_args": {"eps": 0.0627, "steps": 5, "targeted": True, "seed": 0},
        },
    },
    "pse": {"estimator": "gradient"},
    "dissection": {"num_concept_images": 64, "fractions": [0.0, 0.05, 0.2]},
    "sensitivity_attack": {"class_path": "lightning_pse.attacks.PGD", "init_args": {"steps": 3, "seed": 0}},
}


@pytest.fixture(scope="module")
def light_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "analysis.yaml"
    path.write_text(yaml.safe_dump(LIGHT))
    return path


@pytest.fixture(scope="module")
def analyzed(fitted_run, light_config, tmp_path_factory):
    root, _ = fitted_run
    out = tmp_path_factory.mktemp("analysis") / "report"
    result = run_analyze(
        "--ckpt",
        str(root / "checkpoints" / "last.ckpt"),
        "--config",
        str(light_config),
        "--num-samples",
        "24",
        "--out",
        str(out),
        cwd=root,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result, json.loads((out / "report.json").read_text())


def test_report_has_the_documented_schema(analyzed):
    out, result, report = analyzed
    expected = {"perturbation_types", "cam_regions", "sensitive_units", "notes"}
    expected |= {"ground_truth_specificity"} if "ground_truth" in report["pse"] else set()
    assert set(report["findings"]) == expected
    assert "<h2>Findings</h2>" in (out / "report.html").read_text()
    assert f"report: {out / 'report.html'}" in result.stdout
    assert re.search(r"^robustness: done in \d+", result.stderr, re.M), "a log gets one line per section"
    assert re.search(r"^pse: done in \d+", result.stderr, re.M) and "\r" not in result.stderr
    for key in (
        "checkpoint",
        "model",
        "dataset",
        "num_samples",
        "clean_accuracy",
        "attacks",
        "worst_case_robust_accuracy",
        "pse",
        "cam",
        "dissection",
        "masking",
        "provenance",
        "elapsed_seconds",
    ):
        assert key in report, key
    assert report["provenance"]["versions"]["torch"] == torch.__version__ and 0 < report["elapsed_seconds"] < 600
    dissection = report["dissection"]
    for key in (
        "layer",
        "num_units",
        "interpretable_units",
        "spearman_sensitivity_iou",
        "topk_detector_share",
        "bottomk_detector_share",
        "randomk_detector_share",
    ):
        assert key in dissection, key
    assert dissection["layer"] == "body.7" and dissection["num_units"] == len(dissection["units"]) == 128
    assert [row["fraction"] for row in report["masking"]] == [0.0, 0.05, 0.2]
    for row in report["masking"]:
        assert {"clean_accuracy", "robust_accuracy", "random_clean_accuracy", "random_robust_accuracy"} <= set(row)
    assert report["num_samples"] == 24 and report["model"] == "small_cnn"
    assert report["eps"] == pytest.approx(8 / 255), "the ε the model was trained for"
    for name in LIGHT["attacks"]:
        entry = report["attacks"][name]
        assert {"robust_accuracy", "success_rate", "mean_linf", "mean_l2", "eps", "targeted"} <= set(entry)
        assert entry["robust_accuracy"] <= report["clean_accuracy"]
    linf = [a["robust_accuracy"] for a in report["attacks"].values() if a["norm"] == "linf"]
    assert report["worst_case_robust_accuracy"] <= min(linf)
    pse = report["pse"]["attacks"]["pgd"]
    assert set(pse["image_type_shares"]) == {"suppression", "promotion", "balanced"}
    assert pse["estimator"] == "gradient"
    assert "localization_iou" in report["cam"] and "pointing_game" in report["cam"]
    for key in (
        "agreement_suppression_true",
        "baseline_suppression_true",
        "agreement_promotion_target",
        "baseline_promotion_target",
    ):
        assert key in report["cam"]["attacks"]["pgd"]


def test_report_says_what_a_reader_needs_to_quote_it(analyzed):
    out, result, report = analyzed
    pgd = report["attacks"]["pgd5"]
    assert pgd["settings"]["steps"] == 5 and pgd["eps_text"] == "8/255" and pgd["n"] == 24
    assert 0 <= pgd["ci95"][0] <= pgd["robust_accuracy"] <= pgd["ci95"][1] <= 1
    assert pgd["robust"] == round(pgd["robust_accuracy"] * 24)
    assert any("too wide to quote" in w for w in report["warnings"]), "24 samples are too few to quote"
    assert report["source"]["epoch"] == 1 and report["source"]["training"]["method"] == "PGDATModule"
    assert {"date", "device", "versions", "probe_seed"} <= set(report["provenance"])
    assert f"{report['clean']['count']}/24" in result.stdout and "worst case over the linf" in result.stdout


def test_report_page_renders_in_a_browser_without_console_errors(analyzed, tmp_path):
    """Headless Chromium renders report.html; a control page with a script error shows the console
    check would catch one."""
    import shutil
    import subprocess

    out, _, _ = analyzed
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "make test installs Chromium (Debian package chromium)"
    broken = tmp_path / "broken.html"
    broken.write_text(
        (out / "report.html").read_text().replace("</body>", "<script>no_such_function()</script></body>")
    )

    def render(page, png):
        result = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--enable-logging=stderr",
                "--v=0",
                f"--screenshot={png}",
                "--window-size=1200,1800",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        console = [
            line for line in result.stderr.splitlines() if re.search(r"CONSOLE|Uncaught|Failed to load resource", line)
        ]
        return result.returncode, console

    code, console = render(broken, tmp_path / "broken.png")
    assert any("no_such_function" in line for line in console), "the console check sees script errors"
    code, console = render(out / "report.html", tmp_path / "report.png")
    assert code == 0 and console == [], console
    screenshot = Image.open(tmp_path / "report.png")
    assert screenshot.size == (1200, 1800)
    assert len(set(screenshot.convert("L").getdata())) > 20, "the page shows text and figures, not a blank"


def test_report_html_is_self_contained_with_figures(analyzed):
    out, _, report = analyzed
    page = (out / "report.html").read_text()
    assert "<script src" not in page and 'href="http' not in page
    for heading in ("Robustness", "PSE", "CAM", "Network dissection", "Neuron masking"):
        assert heading in page, heading
    figures = {p.name for p in (out / "figures").glob("*.png")}
    assert figures >= {"psr_histogram.png", "category_shares.png", "sensitivity_vs_iou.png", "masking_curve.png"}
    embedded = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(embedded) == len(figures), "every figure is on the page"
    for data in embedded:  # each decodes to a PNG image with pixels
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        assert image.format == "PNG" and image.size[0] > 50 and image.size[1] > 20


def test_robustness_numbers_equal_the_attacks_run_directly(fitted_run, analyzed):
    root, _ = fitted_run
    _, _, report = analyzed
    checkpoint = read_checkpoint(root / "checkpoints" / "last.ckpt")
    model = load_module(checkpoint).model
    probe = load_datamodule(checkpoint).probe_set(24, split="test")
    x = torch.stack([probe[i]["image"] for i in range(24)])
    y = torch.tensor([int(probe[i]["label"]) for i in range(24)])
    with torch.no_grad():
        correct = model(x).argmax(1) == y
    assert report["clean_accuracy"] == pytest.approx(correct.float().mean().item())
    result = PGD(steps=5, seed=0).run(model, x[correct], y[correct])
    robust = (result.logits.argmax(1) == y[correct]).sum().item() / 24
    assert report["attacks"]["pgd5"]["robust_accuracy"] == pytest.approx(robust)


def test_report_numbers_equal_what_the_callbacks_log(fitted_run, analyzed):
    """The per-epoch callbacks, run by ``Trainer.validate`` with the report's attacks on the same
    probe set (test split, 24 samples, one batch), log the numbers the report holds: robustness,
    PSE, CAM and dissection go through the same sections."""
    root, _ = fitted_run
    _, _, report = analyzed
    checkpoint = read_checkpoint(root / "checkpoints" / "last.ckpt")
    module, data = load_module(checkpoint), load_datamodule(checkpoint)
    probe = dict(num_samples=24, split="test", batch_size=64)
    pse_attack = PGD(eps=0.0627, steps=5, targeted=True, seed=0)
    callbacks = [
        RobustEvalCallback(attack=PGD(steps=5, seed=0), **probe),
        PSECallback(attacks={"pgd": pse_attack}, pse=PSESettings(estimator="gradient"), **probe),
        CAMCallback(attacks={"pgd": pse_attack}, pse=PSESettings(estimator="gradient"), **probe),
        DissectionCallback(attack=PGD(steps=3, seed=0), dissection=DissectionSettings(num_concept_images=64), **probe),
    ]
    trainer = quiet_trainer(callbacks=callbacks)
    metrics = trainer.validate(module, datamodule=data, verbose=False)[0]
    assert metrics["test/robust_acc"] == pytest.approx(report["attacks"]["pgd5"]["robust_accuracy"], abs=1e-6)
    pse = report["pse"]["attacks"]["pgd"]
    assert metrics["pse/pgd/success_rate"] == pytest.approx(pse["success_rate"], abs=1e-6)
    for category in ("suppression", "promotion", "balanced"):
        if pse["image_type_shares"][category] is not None:
            assert metrics[f"pse/pgd/{category}_share"] == pytest.approx(pse["image_type_shares"][category], abs=1e-6)
            assert metrics[f"pse/pgd/{category}_energy"] == pytest.approx(
                pse["group_energy_shares"][category], abs=1e-6
            )
    cam = report["cam"]
    for key in (
        "agreement_suppression_true",
        "baseline_suppression_true",
        "agreement_promotion_target",
        "baseline_promotion_target",
        "cam_shift",
    ):  # None in the report: NaN in the log
        expected = float("nan") if cam["attacks"]["pgd"][key] is None else cam["attacks"]["pgd"][key]
        assert metrics[f"cam/pgd/{key}"] == pytest.approx(expected, abs=1e-6, nan_ok=True), key
    assert cam["localization_iou"] is not None
    for key in ("localization_iou", "pointing_game"):
        assert metrics[f"cam/{key}"] == pytest.approx(cam[key], abs=1e-6), key
    for key in (
        "interpretable_units",
        "spearman_sensitivity_iou",
        "topk_detector_share",
        "bottomk_detector_share",
        "randomk_detector_share",
        "topk_mean_iou",
    ):
        expected = report["dissection"][key]
        assert metrics[f"dissect/body.7/{key}"] == pytest.approx(expected, rel=1e-5, abs=1e-6), key


def test_ground_truth_section_on_the_trained_model(trained_model, synthetic_data):
    probe = synthetic_data.probe_set(48, split="test")
    items = [probe[i] for i in range(48)]
    batch = {k: torch.stack([torch.as_tensor(item[k]) for item in items]) for k in items[0]}
    attacks = {"cw": CW(steps=30, binary_search_steps=2, initial_const=1.0)}
    pse_section = PSESection(attacks, PSESettings(estimator="gradient"))
    cam_section = CAMSection(attacks, pse=PSESettings(estimator="gradient"), guided=True)
    extras = {k: v for k, v in batch.items() if k not in ("image", "label")}
    probe_batch = ProbeBatch.of(trained_model, batch["image"], batch["label"], extras)
    runs = AttackRuns(trained_model, probe_batch)
    for section in (pse_section, cam_section):
        section.reset(torch.device("cpu"))
        section.update(trained_model, probe_batch, runs)
    pse = pse_section.compute()["pse"]
    truth = pse["ground_truth"]
    assert truth["num_images"] >= 10
    assert truth["suppression_on_object"] > 1.5 and truth["promotion_on_distractor"] > 1.5
    ratio = truth["specificity"]["suppression_object_over_distractor"]
    assert ratio["value"] == pytest.approx(truth["suppression_on_object"] / truth["suppression_on_distractor"])
    assert ratio["ci95"][0] < ratio["value"] < ratio["ci95"][1] and ratio["n"] == truth["num_images"]
    ratio = truth["specificity"]["promotion_distractor_over_object"]
    assert ratio["value"] == pytest.approx(truth["promotion_on_distractor"] / truth["promotion_on_object"])
    assert set(ground_truth_specificity(truth)) == set(truth["specificity"]) - {"meaning"}
    cam = cam_section.compute()["cam"]
    gain = cam["attacks"]["cw"]["gain_suppression_true_over_other"]
    assert gain["n"] >= 10 and gain["ci95"][0] <= gain["mean"] <= gain["ci95"][1]
    assert findings({"pse": pse, "cam": cam})["cam_regions"]["cw"]["suppression_on_true_region"]["n"] == gain["n"]
    assert cam["localization_iou"] > 0.1 and cam["pointing_game"] > 0.4
    assert cam["attacks"]["cw"]["agreement_suppression_true"] is not None
    guided = cam["attacks"]["cw"]["cam_guided"]
    assert set(guided) == {f"{run}_{key}" for run in ("full", "guided") for key in ("success", "l0", "l2", "linf")}
    assert guided["full_success"] > 0.5 and 0 <= guided["guided_success"] <= 1


def test_default_attacks_are_the_documented_set():
    attacks = presets.autoattack_like(8 / 255, num_classes=10)
    assert list(attacks) == ["pgd20", "apgd_ce", "apgd_t", "cw_l2", "square"]
    assert isinstance(attacks["pgd20"], PGD) and attacks["pgd20"].steps == 20 and attacks["pgd20"].eps == 8 / 255
    assert isinstance(attacks["apgd_t"], APGD) and attacks["apgd_t"].targeted and attacks["apgd_t"].loss == "dlr"
    assert isinstance(attacks["cw_l2"], CW) and isinstance(attacks["square"], Square)
    assert "apgd_t" not in presets.autoattack_like(8 / 255, num_classes=3), "DLR needs at least 4 classes"


class Boom:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_malicious_checkpoint_is_refused_without_running_code(tmp_path):
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": Boom()}, path)
    result = call_analyze("--ckpt", str(path), cwd=tmp_path)
    assert result.returncode == 2 and not (tmp_path / "PWNED").exists()
    assert len(error_lines(result)) == 1 and "refusing to load" in result.stderr and "Traceback" not in result.stderr


def test_truncated_and_missing_checkpoints_are_one_line_errors(fitted_run, tmp_path):
    root, _ = fitted_run
    data = (root / "checkpoints" / "last.ckpt").read_bytes()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(data[: len(data) // 2])
    result = call_analyze("--ckpt", str(truncated), cwd=tmp_path)
    assert result.returncode == 2 and error_lines(result) == [
        f"error: {truncated} is not a readable checkpoint: truncated or corrupt (failed finding central "
        "directory); use an intact copy"
    ], "one line of ours: the zip reader's cause in a few words, not its paragraph"
    result = call_analyze("--ckpt", str(tmp_path / "absent.ckpt"), cwd=tmp_path)
    assert result.returncode == 2 and "does not exist" in error_lines(result)[0]
    assert not (tmp_path / "analysis").exists()


def test_unknown_sections_settings_and_bad_overrides_are_refused(fitted_run, tmp_path):
    root, _ = fitted_run
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"dissection": {"layers": "body.7"}}))
    ckpt = str(root / "checkpoints" / "last.ckpt")
    for args, message in (
        (["--sections", "robustnes"], "unknown section"),
        (["--config", str(tmp_path / "bad.yaml"), "--sections", "dissection"], "layers"),
        (["--data.num_vall", "3"], "num_vall"),
    ):
        result = call_analyze("--ckpt", ckpt, "--out", str(tmp_path / "out"), *args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr[-2000:])
        assert message in result.stderr
    assert not (tmp_path / "out").exists(), "nothing written on failure"


def test_model_and_data_mismatch_is_refused(fitted_run):
    root, _ = fitted_run
    checkpoint = read_checkpoint(root / "checkpoints" / "last.ckpt")
    with pytest.raises(UserInputError, match="num_classes=5 but the data"):
        check_fits(ClassifierModule(num_classes=5).hparams, load_datamodule(checkpoint), "x.ckpt")


def test_grey_images_get_example_figures():
    """One-channel data (MNIST): the example rows put grey images beside the RGB category overlay."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32 * 32, 10)).eval()
    x = torch.rand(6, 1, 32, 32)
    y = model(x).argmax(1)
    section = PSESection({"pgd": PGD(eps=0.5, steps=5, seed=0)}, PSESettings(estimator="gradient"))
    section.reset(torch.device("cpu"))
    batch = ProbeBatch.of(model, x, y)
    section.update(model, batch, AttackRuns(model, batch))
    assert section.compute()["pse"]["attacks"]["pgd"]["num_analyzed"] > 0
    rows = torch.cat(section.examples["pgd"])
    assert rows.shape[1] == 3 and rows.shape[3] == 3 * 32


def test_a_failing_figure_never_costs_the_numbers(trained_model, synthetic_data, monkeypatch):
    from lightning_pse.analysis import Analysis
    from lightning_pse.output import figures

    def broken(*args, **kwargs):
        raise ValueError("cannot draw")

    monkeypatch.setattr(figures, "image_grid", broken)
    analysis = Analysis(
        trained_model,
        synthetic_data,
        sections=["pse"],
        num_samples=8,
        pse_attacks={"pgd": PGD(eps=16 / 255, steps=3, targeted=True, seed=0)},
        pse=PSESettings(estimator="gradient"),
    )
    report, figs = analysis.run()
    assert report["pse"]["attacks"]["pgd"]["num_analyzed"] > 0 and "psr_histogram" in figs
    assert any(e.startswith("examples/pgd: ValueError") for e in report["figure_errors"])


def test_masking_ranks_units_on_another_split_than_it_evaluates(trained_model, synthetic_data, monkeypatch):
    """The masking curve's ranking of units is measured on the validation probe, the curve on the test
    probe (ranking and judging on the same images would fit the ranking to them)."""
    from lightning_pse.analysis import Analysis
    from lightning_pse.sections import network

    seen = {}
    real_sensitivity, real_curve = network.attack_sensitivity, network.masking_curve

    def sensitivity(model, layer, attack, batches):
        value = real_sensitivity(model, layer, attack, batches)
        seen.setdefault("ranked_on", []).append((value, torch.cat([x for x, _ in batches])))
        return value

    def curve(model, layer, ranking, attack, batches, fractions, seed=0):
        seen["curve"] = (ranking, torch.cat([x for x, _ in batches]))
        return real_curve(model, layer, ranking, attack, batches, fractions)

    monkeypatch.setattr(network, "attack_sensitivity", sensitivity)
    monkeypatch.setattr(network, "masking_curve", curve)
    analysis = Analysis(
        trained_model,
        synthetic_data,
        sections=["masking"],
        num_samples=8,
        sensitivity_attack=PGD(steps=2, seed=0),
        dissection=DissectionSettings(fractions=[0.0, 0.1]),
    )
    report, _ = analysis.run()
    ranking, evaluated_on = seen["curve"]
    ((ranked_value, ranked_on),) = [entry for entry in seen["ranked_on"] if entry[0] is ranking]
    assert not any(torch.equal(a, b) for a in ranked_on for b in evaluated_on), "disjoint images"
    assert "8 val images" in report["masking_ranking"]


def test_sections_share_one_run_of_an_attack_per_batch(trained_model, synthetic_data, monkeypatch):
    """The robustness and PSE sections asking for the same C&W run it once per probe batch (the
    defaults are built that way: the robustness section's cw_l2 is the PSE section's cw)."""
    assert repr(presets.autoattack_like(8 / 255, 10)["cw_l2"]) == repr(presets.pse_attacks()["cw"])
    from lightning_pse.analysis import Analysis

    runs = []
    real_perturb = CW.perturb
    monkeypatch.setattr(CW, "perturb", lambda self, *args: runs.append(1) or real_perturb(self, *args))
    analysis = Analysis(
        trained_model,
        synthetic_data,
        sections=["robustness", "pse"],
        num_samples=16,
        batch_size=8,
        attacks={"cw_l2": CW(steps=5, binary_search_steps=1, seed=0)},
        pse_attacks={"cw": CW(steps=5, binary_search_steps=1, seed=0)},
        pse=PSESettings(estimator="gradient"),
    )
    report, _ = analysis.run()
    assert len(runs) == 2, "one C&W run per batch, two batches"
    assert report["pse"]["attacks"]["cw"]["num_attacked"] == report["clean"]["count"]
