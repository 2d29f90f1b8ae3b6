"""``analyze.py`` output can never destroy anything: refused folders, per-checkpoint defaults,
marker-guarded atomic replacement, group-readable folders, a W&B run outside the report."""

import json
import math
import os
import stat
from pathlib import Path

import pytest

from lightning_pse.errors import UserInputError
from lightning_pse.output.folder import MARKER, check_out, default_out, write_report

from helpers import FAST, call_analyze, error_lines, run_analyze


def test_an_unmarked_folder_is_refused_and_its_files_survive(fitted_run, tmp_path):
    root, _ = fitted_run
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    result = call_analyze("--ckpt", str(root / "checkpoints" / "last.ckpt"), "--out", str(out), *FAST, cwd=tmp_path)
    assert result.returncode == 2 and len(error_lines(result)) == 1, result.stderr[-2000:]
    assert "was not written by analyze.py" in error_lines(result)[0]
    assert (out / "thesis.tex").read_text() == "years of work" and sorted(os.listdir(out)) == ["thesis.tex"]
    assert "robustness:" not in result.stderr, "refused before any attack"


@pytest.mark.parametrize("where", ["cwd", "home", "parent_of_cwd"])
def test_the_current_and_home_directories_and_their_parents_are_refused(fitted_run, tmp_path, where):
    root, _ = fitted_run
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("x")
    out = {"cwd": ".", "home": str(work), "parent_of_cwd": ".."}[where]  # run_analyze sets HOME=cwd
    result = call_analyze("--ckpt", str(root / "checkpoints" / "last.ckpt"), "--out", out, *FAST, cwd=work)
    assert result.returncode == 2 and "contains the" in error_lines(result)[0], result.stderr[-2000:]
    assert (work / "keep.txt").read_text() == "x" and not (work / MARKER).exists()
    # (libraries may create their dot-folders in HOME, which run_analyze sets to the work folder)
    assert sorted(p for p in os.listdir(work) if not p.startswith(".")) == ["keep.txt"]


def test_check_out_rules(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ckpt = tmp_path / "models" / "a.ckpt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"x")
    with pytest.raises(UserInputError, match="contains the model file"):
        check_out(tmp_path / "models", [ckpt])
    run = tmp_path / "elsewhere" / "run"
    (run / "checkpoints").mkdir(parents=True)
    with pytest.raises(UserInputError, match="is a training run"):
        check_out(run, [ckpt])
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(UserInputError, match="not a folder"):
        check_out(tmp_path / "file.txt", [ckpt])
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_out(empty, [ckpt]) == empty.resolve(), "an empty folder holds nothing to lose"
    marked = tmp_path / "report"
    marked.mkdir()
    (marked / MARKER).write_text("")
    (marked / "report.json").write_text("{}")
    assert check_out(marked, [ckpt]) == marked.resolve()
    assert check_out(tmp_path / "new" / "report", [ckpt]) == (tmp_path / "new" / "report").resolve()


def test_a_place_that_takes_no_folder_is_refused_before_any_work(fitted_run, tmp_path):
    """``/proc`` takes no new folder, even for root (whom permission bits do not stop): the report
    could never be written there, so the run is refused before its first attack."""
    root, _ = fitted_run
    out = "/proc/lightning_pse_report"
    result = call_analyze("--ckpt", str(root / "checkpoints" / "last.ckpt"), "--out", out, *FAST, cwd=tmp_path)
    assert result.returncode == 2 and len(error_lines(result)) == 1, result.stderr[-2000:]
    assert f"--out {out}: cannot write in /proc" in error_lines(result)[0]
    assert "robustness:" not in result.stderr and "analysing" not in result.stderr, "refused before any work"
    # Where a folder can be made, the check leaves nothing behind.
    check_out(tmp_path / "new" / "report", [])
    assert not list(tmp_path.glob(".lightning_pse-probe-*")) and not (tmp_path / "new").exists()


def test_default_output_is_per_checkpoint():
    run = Path("/runs/x")
    assert default_out([run / "checkpoints" / "best-epoch=001.ckpt"], "a") == run / "analysis" / "best-epoch=001"
    assert default_out([run / "checkpoints" / "last.ckpt"], "a") == run / "analysis" / "last"
    assert default_out([Path("/models/sd.pt")], "a") == Path("/models/analysis/sd")
    assert default_out([], "robustbench-X") == Path("analysis/robustbench-X")


@pytest.mark.slow
def test_two_checkpoints_of_one_run_get_two_reports_and_a_rerun_replaces_its_own(fitted_run, tmp_path):
    root, _ = fitted_run
    best = next((root / "checkpoints").glob("best-*.ckpt"))
    for ckpt in (best, root / "checkpoints" / "last.ckpt"):
        result = run_analyze("--ckpt", str(ckpt), *FAST, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
    reports = {p.name for p in (root / "analysis").iterdir() if p.is_dir() and not p.name.startswith(".")}
    assert {best.stem, "last"} <= reports
    last = root / "analysis" / "last"
    first = json.loads((last / "report.json").read_text())
    (last / "figures" / "stale.png").write_bytes(b"old")
    result = run_analyze("--ckpt", str(root / "checkpoints" / "last.ckpt"), *FAST, "--seed", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    second = json.loads((last / "report.json").read_text())
    assert second["provenance"]["probe_seed"] == 1 and first["provenance"]["probe_seed"] == 0
    assert not (last / "figures" / "stale.png").exists(), "the whole folder is replaced"
    assert (last / MARKER).is_file()
    assert not [p for p in (root / "analysis").iterdir() if p.name.startswith(".")], "no staging left behind"
    mode = stat.S_IMODE(os.stat(last).st_mode)
    assert mode & stat.S_IRGRP and mode & stat.S_IXGRP, f"report folder not group-readable: {oct(mode)}"


def test_a_failing_write_keeps_the_previous_report(tmp_path):
    out = tmp_path / "analysis"
    write_report(out, {"a": 1}, {}, lambda report, figures: "<html></html>")
    before = (out / "report.json").read_text()

    def fail(report, figures):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_report(out, {"a": 2}, {}, fail)
    assert (out / "report.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["analysis"], "no staging directory left behind"


def test_report_json_is_standard_json_with_null_where_a_value_could_not_be_computed(tmp_path):
    report = {"ci95": [float("nan"), 0.5], "rho": float("nan"), "score": float("inf"), "nested": [{"x": -math.inf}]}
    write_report(tmp_path / "r", report, {}, lambda report, figures: "")

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    written = json.loads((tmp_path / "r" / "report.json").read_text(), parse_constant=refuse)  # as JSON.parse reads it
    assert written == {"ci95": [None, 0.5], "rho": None, "score": None, "nested": [{"x": None}]}
    assert math.isnan(report["rho"]), "the caller's report is left as it was"


def test_a_folder_that_changed_during_the_run_is_not_replaced(tmp_path):
    out = tmp_path / "report"
    write_report(out, {"a": 1}, {}, lambda report, figures: "")
    (out / MARKER).unlink()  # someone else took the folder over while the analysis ran
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserInputError, match="changed while the analysis ran"):
        write_report(out, {"a": 2}, {}, lambda report, figures: "")
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_the_wandb_run_lives_outside_the_report_and_survives_a_second_analysis(fitted_run, tmp_path):
    root, _ = fitted_run
    out = tmp_path / "reports" / "last"
    args = ("--ckpt", str(root / "checkpoints" / "last.ckpt"), "--out", str(out), "--wandb", "true", *FAST)
    first = run_analyze(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "W&B run, offline" in first.stdout
    runs = list((tmp_path / "reports" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and not (out / "wandb").exists()
    second = run_analyze(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    assert runs[0].exists() and len(list((tmp_path / "reports" / "wandb").glob("offline-run-*"))) == 2
