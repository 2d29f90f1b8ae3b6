"""Report folders that can never destroy anything, written atomically.

A report folder carries the marker file ``MARKER`` written by ``analyze.py``. An existing ``--out``
is replaced only when it carries that marker (or is an empty folder); a folder that is, or contains,
a model file, the current directory, the home directory or a ``train.py`` run (``checkpoints/``)
is refused before any work, and so is a place where no folder can be written. The new report is
written into a staging folder beside ``out`` and swapped in by renames, so an interrupted run
leaves the previous report (or nothing), never a half-written one. Folders are created readable by
the group (the umask's permissions, not 0700).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from ..errors import UserInputError
from ..schemas import report_json

MARKER = ".lightning_pse-report"


def default_out(source_files: list[Path], label: str) -> Path:
    """``<run>/analysis/<checkpoint stem>/`` for ``<run>/checkpoints/x.ckpt``; ``<folder>/analysis/<stem>``
    beside any other model file; ``analysis/<label>`` in the current directory without one."""
    if not source_files:
        return Path("analysis") / label
    path = source_files[0]
    if path.parent.name == "checkpoints":
        return path.parent.parent / "analysis" / path.stem
    return path.parent / "analysis" / path.stem


def within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_out(out: Path, protected: list[Path]) -> Path:
    """``out`` resolved, or a ``UserInputError`` when writing there could destroy what the tool did
    not create (see the module docstring). ``protected``: the model files."""
    out = out.expanduser().resolve()
    for name, place in (("the current directory", Path.cwd().resolve()), ("the home directory", Path.home().resolve())):
        if within(place, out):
            raise UserInputError(
                f"--out {out} is or contains {name}; name a new folder for the report, e.g. --out {out / 'report'}"
            )
    for path in protected:
        if within(path.resolve(), out):
            raise UserInputError(f"--out {out} contains the model file {path}; name another folder for the report")
    if out.exists() or out.is_symlink():
        if not out.is_dir() or out.is_symlink():
            raise UserInputError(f"--out {out} exists and is not a folder; name a new folder for the report")
        if (out / "checkpoints").is_dir():
            raise UserInputError(
                f"--out {out} is a training run (it has checkpoints/); reports go to {out / 'analysis'}/<checkpoint>"
            )
        if not (out / MARKER).is_file() and any(out.iterdir()):
            raise UserInputError(
                f"--out {out} exists and was not written by analyze.py (no {MARKER} marker); "
                f"refusing to replace it: name a new folder or remove it yourself"
            )
    check_writable(out)
    return out


def check_writable(out: Path) -> None:
    """The report is staged beside ``out`` (``write_report``): its nearest existing ancestor must
    take a new folder. Tried, not inferred from permission bits (root ignores them; a read-only
    file system does not)."""
    place = next(p for p in out.parents if p.exists())
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".lightning_pse-probe-", dir=place))
    except OSError as err:
        raise UserInputError(
            f"--out {out}: cannot write in {place} ({err.strerror.lower()}); name a folder you can write to"
        ) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_report(out: Path, report: dict, figures: dict[str, bytes], render) -> None:
    """Write ``report.json``, ``report.html`` (``render(report, figures)``), ``figures/*.png`` and the
    marker into a staging folder beside ``out``, then swap it in (see the module docstring)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    retired = None
    try:
        os.chmod(staging, 0o777 & ~_umask())
        (staging / "figures").mkdir()
        for name, png in figures.items():
            (staging / "figures" / f"{figure_file(name)}").write_bytes(png)
        (staging / "report.json").write_text(report_json(report))
        (staging / "report.html").write_text(render(report, figures))
        (staging / MARKER).write_text("written by lightning_pse analyze.py; it replaces this folder on its next run\n")
        if out.exists():
            if not (out / MARKER).is_file() and any(out.iterdir()):  # checked again right before the swap
                raise UserInputError(
                    f"{out} changed while the analysis ran and is no longer a report folder; "
                    f"the new report is in {staging}"
                )
            retired = out.with_name(f".{out.name}-previous-{os.getpid()}")
            os.replace(out, retired)
        os.replace(staging, out)
    except BaseException as err:
        if retired is not None and not out.exists():
            os.replace(retired, out)
        if staging.exists() and not isinstance(err, UserInputError):  # the message points at the staging folder
            shutil.rmtree(staging)
        raise
    if retired is not None:
        shutil.rmtree(retired)  # our own previous report (it carried the marker)


def figure_file(name: str) -> str:
    """``examples/pgd`` → ``examples_pgd.png``."""
    return name.replace("/", "_") + ".png"


def _flatten(prefix: str, value, into: dict) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}/{key}" if prefix else str(key), inner, into)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        into[prefix] = value


def log_to_wandb(out: Path, report: dict, figures: dict[str, bytes], settings: dict) -> str | None:
    """The report in a W&B run (offline unless W&B is configured) written to ``out.parent/wandb``,
    outside the report folder: ``job_type="eval"``, the analysis ``settings`` as its config, every
    number in ``run.summary``, the figures, and tables of attacks, PSE and units. Returns the run's
    folder and mode in words, or None (with a warning) when W&B fails: the report on disk is the product."""
    try:
        import wandb

        from .wandb_logger import wandb_configured

        offline = not wandb_configured()
        run = wandb.init(
            project="lightning_pse",
            job_type="eval",
            name=f"analyze-{out.name}",
            dir=str(out.parent),
            config={**settings, "model": report.get("model", "comparison")},
            mode="offline" if offline else None,
            reinit="create_new",
        )
        try:
            scalars: dict = {}
            _flatten("", {k: v for k, v in report.items() if k not in ("model", "provenance", "correlations")}, scalars)
            run.summary.update(scalars)
            run.log({f"figures/{name}": wandb.Image(str(out / "figures" / figure_file(name))) for name in figures})
            for name, (columns, rows) in report_tables(report).items():
                run.log({f"tables/{name}": wandb.Table(columns=columns, data=rows)})
            folder = str(Path(run.dir).parent)
        finally:
            run.finish()
        return f"W&B run, {'offline (upload with `wandb sync`)' if offline else 'online'}: {folder}"
    except Exception as err:  # noqa: BLE001 - W&B is a copy of the report
        print(f"warning: could not log the report to W&B ({type(err).__name__}: {err})", file=sys.stderr)
        return None


def report_tables(report: dict) -> dict[str, tuple[list[str], list[list]]]:
    """``name → (columns, rows)`` of the report's tables: attacks, PSE, units; a comparison's rows."""
    tables = {}
    if report.get("kind") == "comparison":
        first = report["rows"][0] if report["rows"] else {}
        columns = [c for c, v in first.items() if not c.endswith("_ci95") and not isinstance(v, (dict, list))]
        tables["comparison"] = (columns, [[row[c] for c in columns] for row in report["rows"]])
    if "attacks" in report:
        columns = ["attack", "norm", "eps", "robust_accuracy", "robust", "n", "ci_low", "ci_high", "success_rate"]
        tables["attacks"] = (
            columns,
            [
                [
                    name,
                    a["norm"],
                    a["eps"],
                    a["robust_accuracy"],
                    a["robust"],
                    a["n"],
                    *a["ci95"],
                    a["success_rate"],
                ]
                for name, a in report["attacks"].items()
            ],
        )
    if "pse" in report:
        columns = ["attack", "success_rate", "analyzed", "suppression", "promotion", "balanced"]
        tables["pse"] = (
            columns,
            [
                [name, r["success_rate"], r["num_analyzed"], *r["image_type_shares"].values()]
                for name, r in report["pse"]["attacks"].items()
            ],
        )
    if "dissection" in report and report["dissection"].get("units"):
        units = report["dissection"]["units"]
        columns = list(units[0])
        tables["units"] = (columns, [[row[c] for c in columns] for row in units])
    return tables
