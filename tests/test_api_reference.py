"""The API reference (docs/api.md, rendered by mkdocstrings from Google-style docstrings) shows
each parameter's real default: every ``Args:`` entry of a documented callable names exactly one
parameter of its signature. An entry naming several (``eps, norm: ...``) or none is rendered as a
parameter of its own, without a default, marked "required"."""

from __future__ import annotations

import importlib
import inspect
import os
import re
import subprocess

import pytest

from helpers import REPO

ENTRY = re.compile(r"^(\s*)(\*{0,2}[\w, *]+?)(?: \(([^)]*)\))?:(?:\s|$)")


def documented() -> list[tuple[str, object]]:
    """``(dotted name, object)`` of every callable docs/api.md renders with its parameters: the
    ``:::`` targets (a module: its public functions and classes), and a class's listed members."""
    text = (REPO / "docs" / "api.md").read_text()
    out = []
    for match in re.finditer(r"^::: (\S+)(?:\n    options:\n      members: \[([^\]]*)\])?", text, re.M):
        name, members = match.group(1), match.group(2)
        module_name, _, attribute = name.rpartition(".")
        try:
            target = importlib.import_module(name)
        except ImportError:
            target = getattr(importlib.import_module(module_name), attribute)
        if inspect.ismodule(target):
            public = getattr(target, "__all__", None) or [n for n in vars(target) if not n.startswith("_")]
            for n in public:
                obj = getattr(target, n)
                if (inspect.isfunction(obj) or inspect.isclass(obj)) and getattr(obj, "__module__", "").startswith(
                    target.__name__
                ):
                    out.append((f"{name}.{n}", obj))
            continue
        out.append((name, target))
        for member in (members or "").split(","):
            if member.strip():
                out.append((f"{name}.{member.strip()}", getattr(target, member.strip())))
    return out


def args_entries(doc: str) -> list[str]:
    """The names of the ``Args:`` section's entries (Google style: ``name: text`` or ``name (type):
    text`` at the section's first indent; continuation lines are deeper)."""
    lines = inspect.cleandoc(doc).splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() in ("Args:", "Arguments:", "Parameters:"))
    except StopIteration:
        return []
    names, indent = [], None
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        if indent is None:
            indent = depth
        if depth < indent:
            break
        if depth == indent:
            match = ENTRY.match(line)
            assert match, f"not an Args entry: {line!r}"
            names.append(match.group(2))
    return names


def signature_parameters(obj) -> list[inspect.Parameter]:
    """The parameters of a function, or of a class's ``__init__``, without ``self``."""
    function = obj.__init__ if inspect.isclass(obj) else obj
    return [p for p in inspect.signature(function).parameters.values() if p.name != "self"]


def parameters(obj) -> set[str]:
    """The names an Args entry may take: ``*args`` and ``**kwargs`` with their stars."""
    stars = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}
    return {stars.get(p.kind, "") + p.name for p in signature_parameters(obj)}


@pytest.mark.parametrize("name, obj", documented(), ids=[name for name, _ in documented()])
def test_every_args_entry_names_one_parameter_of_the_signature(name, obj):
    doc = inspect.getdoc(obj) or ""
    if inspect.isclass(obj) and "Args:" not in doc:
        doc = inspect.getdoc(obj.__init__) or ""
    entries = args_entries(doc)
    known = parameters(obj)
    wrong = [entry for entry in entries if entry not in known]
    assert not wrong, f"{name}: Args entries {wrong} are not single parameters of {sorted(known)}"


def test_the_check_sees_grouped_entries():
    """The parser reads a grouped entry as one name, which the signature then lacks."""

    def f(eps: float = 0.1, norm: str = "linf") -> None:
        """Do.

        Args:
            eps, norm: the threat model.
        """

    assert args_entries(f.__doc__) == ["eps, norm"] and "eps, norm" not in parameters(f)


@pytest.mark.slow  # builds the manual (make test builds .venv-docs first, for its own docs check)
def test_the_built_reference_marks_only_parameters_without_a_default_as_required(tmp_path):
    """In the page mkdocstrings renders, "required" stands only beside parameters that have no
    default in their signature."""
    mkdocs = REPO / ".venv-docs" / "bin" / "mkdocs"
    assert mkdocs.exists(), "run make docs first: it builds .venv-docs"
    built = subprocess.run(
        [str(mkdocs), "build", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    page = (tmp_path / "site" / "api" / "index.html").read_text()
    rows = re.findall(r"<td>\s*<code>([^<]+)</code>\s*</td>(.*?)</tr>", page, re.S)
    required = {name for name, body in rows if "<em>required</em>" in body}
    documented_parameters = [p for _, obj in documented() for p in signature_parameters(obj)]
    without_default = {p.name for p in documented_parameters if p.default is inspect.Parameter.empty}
    assert rows and required <= without_default, f"rendered as required: {sorted(required - without_default)}"
    with_default = {p.name for p in documented_parameters if p.default is not inspect.Parameter.empty}
    shown = [name for name, body in rows if name in with_default - without_default and "<em>required</em>" not in body]
    assert len(shown) >= 20, f"parameters with defaults rendered with them: {shown}"
