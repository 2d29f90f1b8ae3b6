"""`make demo` replaces its run folder only when an earlier `make demo` wrote it; `make quick` is
the demo with the quick config and analysis.

The recipe runs with ``PY=true`` (training and analysis become no-ops) and ``STAMP`` pointing at a
fresh file (the venv counts as installed), so only the folder handling is exercised.
"""

import subprocess

from helpers import REPO, error_lines

MARKER = ".lightning_pse-demo"


def make_demo(demo_dir, tmp_path):
    stamp = tmp_path / "installed"
    stamp.touch()
    return subprocess.run(
        ["make", "-s", "-C", str(REPO), "demo", f"DEMO_DIR={demo_dir}", "PY=true", f"STAMP={stamp}"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_refuses_a_folder_it_did_not_write(tmp_path):
    demo_dir = tmp_path / "mine"
    demo_dir.mkdir()
    (demo_dir / "results.csv").write_text("precious")
    result = make_demo(demo_dir, tmp_path)
    assert result.returncode != 0
    errors = error_lines(result)
    assert len(errors) == 1 and "not written by make demo" in errors[0]
    assert (demo_dir / "results.csv").read_text() == "precious"
    assert not (demo_dir / MARKER).exists()


def test_replaces_its_own_folder_and_marks_a_new_one(tmp_path):
    demo_dir = tmp_path / "demo"
    first = make_demo(demo_dir, tmp_path)
    assert first.returncode == 0, first.stderr
    assert (demo_dir / MARKER).is_file()
    (demo_dir / "old_run.ckpt").write_text("from the last demo")
    second = make_demo(demo_dir, tmp_path)
    assert second.returncode == 0, second.stderr
    assert (demo_dir / MARKER).is_file() and not (demo_dir / "old_run.ckpt").exists()


def test_quick_is_the_demo_with_the_quick_config_and_a_quick_analysis(tmp_path):
    """``make quick``: the demo's folder handling, configs/quick.yaml, then ``analyze.py --quick``."""
    stamp = tmp_path / "installed"
    stamp.touch()
    quick_dir = tmp_path / "quick"
    result = subprocess.run(
        ["make", "-s", "-C", str(REPO), "quick", f"QUICK_DIR={quick_dir}", "PY=echo", f"STAMP={stamp}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    train, analyze = [line for line in result.stdout.splitlines() if line.startswith(("train.py", "analyze.py"))]
    assert train == f"train.py fit --config configs/quick.yaml --trainer.default_root_dir {quick_dir}"
    assert analyze == f"analyze.py --ckpt {quick_dir}/checkpoints/last.ckpt --quick"
    assert (quick_dir / MARKER).is_file()
