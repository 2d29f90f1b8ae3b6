"""The project as users install it: a wheel (no checkout, no editable install) whose ``lightning-pse``
command trains from the packaged default config and analyses the checkpoint, from an empty folder."""

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from lightning_pse.argparsing import PACKAGED_CONFIGS, invoked_as, packaged_config, resolve_config_files
from lightning_pse.errors import UserInputError

from helpers import FAST, REPO, TINY, clean_env


def build_wheel(out: Path) -> Path:
    """The wheel of a copy of the package's sources (the build never writes into the checkout)."""
    src = out / "src"
    shutil.copytree(REPO / "lightning_pse", src / "lightning_pse", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(src), "-w", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("lightning_pse-*.whl")
    return wheel


def fresh_venv(path: Path) -> Path:
    """A new venv whose only extra path is this environment's site-packages (torch and the other
    dependencies, already installed): the ``lightning_pse`` it imports is the one installed into it."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    (purelib,) = (path / "lib").glob("python*/site-packages")
    (purelib / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return path


@pytest.mark.slow
def test_the_wheel_trains_and_analyses_from_an_empty_folder(tmp_path):
    wheel = build_wheel(tmp_path / "dist")
    names = zipfile.ZipFile(wheel).namelist()
    assert "lightning_pse/configs/default.yaml" in names and "lightning_pse/configs/data/synthetic.yaml" in names
    assert "lightning_pse/schemas/core.schema.json" in names
    venv = fresh_venv(tmp_path / "venv")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    work = tmp_path / "empty"
    work.mkdir()
    env = clean_env(work)
    where = subprocess.run(
        [
            venv / "bin" / "python",
            "-c",
            "import lightning_pse; print(lightning_pse.__file__, lightning_pse.__version__)",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(venv)) and "0.1.0" in where, where  # the installed copy, not the checkout
    command = str(venv / "bin" / "lightning-pse")

    def installed(*args):
        return subprocess.run(list(args), cwd=work, env=env, capture_output=True, text=True, timeout=600)

    fit = installed(command, "fit", *TINY, "--trainer.max_epochs", "1", "--trainer.default_root_dir", "run")
    assert fit.returncode == 0, fit.stderr[-3000:]
    assert (work / "run" / "checkpoints" / "last.ckpt").is_file()
    analysis = installed(command, "analyze", "--ckpt", "run/checkpoints/last.ckpt", *FAST)
    assert analysis.returncode == 0, analysis.stderr[-3000:]
    assert (work / "run" / "analysis" / "last" / "report.json").is_file()
    module = installed(venv / "bin" / "python", "-m", "lightning_pse", "configs")
    assert module.returncode == 0
    for name in ("default", "fashion_mnist_cpu_pgd_at", "fashion_mnist_cpu_trades", "fashion_mnist_cpu_pse_at"):
        assert name in module.stdout.split(), f"the wheel ships {name}"


def test_config_names_resolve_to_the_packaged_configs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./configs here
    for name in ("default", "default.yaml", "configs/default.yaml"):
        assert resolve_config_files(["fit", "--config", name])[2] == str(PACKAGED_CONFIGS / "default.yaml")
    assert resolve_config_files([f"--config={'synthetic_trades'}"]) == [
        f"--config={PACKAGED_CONFIGS / 'synthetic_trades.yaml'}"
    ]
    own = tmp_path / "default.yaml"  # a file of the user's with a packaged config's name wins
    own.write_text("trainer: {max_epochs: 1}\n")
    assert resolve_config_files(["--config", "default.yaml"]) == ["--config", "default.yaml"]
    assert packaged_config("no_such_config") is None
    with pytest.raises(UserInputError, match="cannot read the config file nope.yaml.*packaged configs: .*default"):
        resolve_config_files(["--config", "nope.yaml"])


def test_the_repository_configs_are_the_packaged_ones():
    assert (REPO / "configs").resolve() == PACKAGED_CONFIGS.resolve()


def test_unknown_command_is_one_line_and_exit_2():
    result = subprocess.run([sys.executable, "-m", "lightning_pse", "train"], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "unknown command 'train'" in result.stderr and "fit" in result.stderr


@pytest.mark.parametrize(
    "started, analyze, train",
    [
        ("/repo/analyze.py", "python analyze.py", "lightning-pse"),
        ("/repo/train.py", "lightning-pse analyze", "python train.py"),
        (
            "/venv/lib/python3.11/site-packages/lightning_pse/__main__.py",
            "python -m lightning_pse analyze",
            "python -m lightning_pse",
        ),
        ("/venv/bin/lightning-pse", "lightning-pse analyze", "lightning-pse"),
    ],
)
def test_messages_name_the_command_as_it_was_typed(monkeypatch, started, analyze, train):
    monkeypatch.setattr(sys, "argv", [started])
    assert (invoked_as("analyze"), invoked_as("train")) == (analyze, train)


def test_errors_and_help_speak_in_the_command_typed(tmp_path):
    """One voice: an error under ``python -m lightning_pse analyze`` points at that command's help,
    the dashboard's usage names ``lightning-pse dashboard``-style words, and the top help is plain text."""
    run = [sys.executable, "-m", "lightning_pse"]
    error = subprocess.run([*run, "analyze", "--bogus"], capture_output=True, text=True, cwd=tmp_path).stderr
    assert error.strip().endswith("(see python -m lightning_pse analyze --help)"), error
    usage = subprocess.run([*run, "dashboard", "--help"], capture_output=True, text=True, cwd=tmp_path).stdout
    assert usage.startswith("usage: python -m lightning_pse dashboard ")
    top = subprocess.run([*run, "--help"], capture_output=True, text=True, cwd=tmp_path).stdout
    assert "lightning-pse fit" in top and "``" not in top
