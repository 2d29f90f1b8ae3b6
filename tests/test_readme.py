"""The README is a front door: under 20 KB, and every relative link in it points at a file of the
repository (the docs pages themselves are checked by ``make docs``, mkdocs --strict)."""

import re

from helpers import REPO

README = REPO / "README.md"


def relative_links(text: str) -> list[str]:
    """The targets of ``[text](target)`` links that are not web addresses or in-page anchors."""
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    return [t.split("#")[0] for t in targets if not re.match(r"[a-z]+://|#|mailto:", t)]


def test_readme_is_a_front_door_under_20_kb():
    text = README.read_text()
    assert len(text.encode()) <= 20_000
    for heading in ("## Quickstart", "## Five common tasks", "## Documentation"):
        assert heading in text


def test_every_relative_link_of_the_readme_resolves():
    links = relative_links(README.read_text())
    assert len(links) >= 10, "the README links into docs/"
    missing = [link for link in links if not (REPO / link).exists()]
    assert missing == []


def test_the_link_check_finds_a_broken_link():
    assert relative_links("see [a](docs/a.md#x), [b](https://x.org) and [c](#here)") == ["docs/a.md"]
