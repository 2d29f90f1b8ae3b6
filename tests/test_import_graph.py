"""The package's import graph runs one way: pixel groups → attacks → science (pse, cam, dissect) →
sections → callbacks | analysis → command lines, with ``output`` below callbacks and analysis.
Every import counts, module-level or inside a function. The training modules sit below the
callbacks; their package's command line (``training/cli.py``, ``train.py``) is the one file of it
at the top, like ``analysis/cli.py``."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import lightning_pse

PACKAGE = Path(lightning_pse.__file__).parent
SCIENCE = ("groups", "data", "models", "attacks", "pse", "cam", "dissect")

# (importing package, imported package): arrows that must not exist.
FORBIDDEN = (
    [
        ("attacks", "pse"),
        ("attacks", "cam"),
        ("attacks", "dissect"),
        ("callbacks", "analysis"),
        ("analysis", "callbacks"),
        ("groups", "attacks"),
        ("groups", "pse"),
    ]
    + [
        (science, upper)
        for science in SCIENCE
        for upper in ("sections", "training", "callbacks", "analysis", "output", "cli", "checkpoints")
    ]
    + [("sections", upper) for upper in ("training", "callbacks", "analysis", "cli", "checkpoints")]
    + [("output", other) for other in (*SCIENCE, "sections", "training", "callbacks", "analysis", "cli")]
)
TOP_OF_TRAINING = "training/cli.py"  # the only training file above the callbacks and the output


def top_package(path: Path) -> str:
    """``attacks`` for ``lightning_pse/attacks/pgd.py``, ``groups`` for ``lightning_pse/groups.py``."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imported_packages(path: Path) -> set[str]:
    """The top-level ``lightning_pse`` packages that ``path`` imports, relative or absolute."""
    here = list(path.relative_to(PACKAGE).parts[:-1])  # the package the module lives in, below lightning_pse
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                target = [*base, *(node.module.split(".") if node.module else [])]
                names = [target] if target else [[alias.name] for alias in node.names]
            elif node.module and node.module.split(".")[0] == "lightning_pse":
                names = [node.module.split(".")[1:]]
            else:
                continue
            out.update(name[0] for name in names if name)
        elif isinstance(node, ast.Import):
            out.update(
                alias.name.split(".")[1]
                for alias in node.names
                if alias.name.startswith("lightning_pse.") and alias.name.count(".")
            )
    return {name for name in out if (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()}


def edges() -> set[tuple[str, str, str]]:
    """``(importing package, imported package, file)`` for every cross-package import."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        source = top_package(path)
        for target in imported_packages(path):
            if target != source:
                found.add((source, target, str(path.relative_to(PACKAGE))))
    return found


def test_imports_are_resolved():
    """The parser sees the arrows that exist (a parser that sees nothing would pass every rule)."""
    found = {(a, b) for a, b, _ in edges()}
    assert {
        ("sections", "pse"),
        ("callbacks", "sections"),
        ("analysis", "sections"),
        ("attacks", "groups"),
        ("pse", "groups"),
        ("pse", "attacks"),
        ("sections", "output"),
    } <= found


def test_no_import_runs_the_wrong_way():
    wrong = sorted(
        f"{file}: {source} imports {target}" for source, target, file in edges() if (source, target) in FORBIDDEN
    )
    assert not wrong, "\n".join(wrong)


def test_only_the_training_command_line_imports_above_training():
    above = {"callbacks", "analysis", "output", "checkpoints", "argparsing"}
    wrong = sorted(
        f"{file}: {source} imports {target}"
        for source, target, file in edges()
        if source == "training" and target in above and file != TOP_OF_TRAINING
    )
    assert not wrong, "\n".join(wrong)
    assert ("training", "callbacks", TOP_OF_TRAINING) in edges(), "the rule sees the command line's imports"


def unresolved_relative_imports(package: Path) -> list[str]:
    """``file: from .x import y`` for every relative import, module-level or inside a function,
    whose target module is neither a file nor a package of ``package`` (a moved file's imports)."""
    wrong = []
    for path in package.rglob("*.py"):
        here = list(path.relative_to(package).parts[:-1])
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = here[: len(here) - (node.level - 1)] if node.level <= len(here) + 1 else None
                target = package.joinpath(*base, *(node.module.split(".") if node.module else []))
                names = [] if node.module else [alias.name for alias in node.names]
                init = target / "__init__.py"  # ``from .. import __version__``: a name the package defines
                found = (
                    (target.with_suffix(".py").is_file() or target.is_dir())
                    if node.module
                    else all(
                        (target / f"{n}.py").is_file() or (target / n).is_dir() or n in init.read_text() for n in names
                    )
                )
                if base is None or not found:
                    wrong.append(f"{path.relative_to(package)}: from {'.' * node.level}{node.module or ''} import ...")
    return wrong


def test_every_relative_import_resolves():
    wrong = unresolved_relative_imports(PACKAGE)
    assert not wrong, "\n".join(wrong)


def test_an_unresolved_relative_import_is_caught(tmp_path):
    """A file moved one package down keeps ``from .argparsing import ...`` inside a function."""
    package = tmp_path / "lightning_pse"
    (package / "training").mkdir(parents=True)
    (package / "argparsing.py").write_text("")
    (package / "training" / "cli.py").write_text("def f():\n    from .argparsing import one_line\n")
    assert unresolved_relative_imports(package) == ["training/cli.py: from .argparsing import ..."]
    (package / "training" / "cli.py").write_text("def f():\n    from ..argparsing import one_line\n")
    assert unresolved_relative_imports(package) == []


def test_a_backward_import_is_caught(tmp_path, monkeypatch):
    """The rule fires on a planted backward arrow (attacks → pse, relative, inside a function)."""
    package = tmp_path / "lightning_pse"
    (package / "attacks").mkdir(parents=True)
    (package / "pse").mkdir()
    (package / "attacks" / "bad.py").write_text("def f():\n    from ..pse import analyze\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    assert ("attacks", "pse", "attacks/bad.py") in edges()
