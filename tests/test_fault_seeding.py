"""benchmarks/fault_seeding.py edits the package while it runs: a kill must leave no fault behind."""

import os
import shutil
import signal
import subprocess
import sys
import time

from helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import fault_seeding  # noqa: E402


def test_sigterm_while_a_faults_tests_run_restores_the_file_and_ends_the_tests(tmp_path):
    # A copy of the script and of the first fault's file, with a test that records its pid and waits.
    fault = fault_seeding.FAULTS[0]
    (tmp_path / "benchmarks").mkdir()
    shutil.copy(REPO / "benchmarks" / "fault_seeding.py", tmp_path / "benchmarks")
    target = tmp_path / "lightning_pse" / fault.path
    target.parent.mkdir(parents=True)
    shutil.copy(REPO / "lightning_pse" / fault.path, target)
    original = target.read_text()
    started = tmp_path / "started"
    for test_path in (p for p in fault.tests if p.startswith("tests/")):  # the rest are -k expressions
        folder = tmp_path / test_path
        folder.mkdir(parents=True, exist_ok=True)
        waiting = f"    pathlib.Path({str(started)!r}).write_text(str(os.getpid()))\n    time.sleep(60)\n"
        (folder / "test_wait.py").write_text("import os, pathlib, time\n\n\ndef test_wait():\n" + waiting)
    script = tmp_path / "benchmarks" / "fault_seeding.py"
    process = subprocess.Popen([sys.executable, str(script), "--only", "1"], cwd=tmp_path, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (started.exists() and started.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert started.exists(), "the fault's tests never started"
        assert target.read_text() == original.replace(fault.old, fault.new), "the fault is in place while its tests run"
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 128 + signal.SIGTERM
    assert target.read_text() == original, "the seeded fault was left in the file"
    try:
        os.kill(int(started.read_text()), 0)
        raise AssertionError("the fault's tests still run after the script exited")
    except ProcessLookupError:
        pass
