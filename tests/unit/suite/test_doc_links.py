"""Links between the repository's Markdown files land on a file and a heading that exist
(a README row pointing at docs/architecture.md#a-section that was renamed is a defect)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+?\.md)?(#[^)\s]+)?\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    found: set[str] = set()
    for line in text.splitlines():
        if line.startswith("#"):
            base = slug(line.lstrip("#"))
            n, anchor = 0, base
            while anchor in found:  # GitHub numbers repeated headings: x, x-1, x-2
                n += 1
                anchor = f"{base}-{n}"
            found.add(anchor)
    return found


def test_slug_follows_github() -> None:
    assert slug(" The Kubernetes client: lightkube") == "the-kubernetes-client-lightkube"
    assert slug(" `make up`") == "make-up"
    assert slug(" Operator: 10,000 ChronosJobs") == "operator-10000-chronosjobs"


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_every_link_to_a_markdown_file_and_heading_resolves(doc: Path) -> None:
    broken = []
    for target, fragment in LINK.findall(FENCE.sub("", doc.read_text())):
        if target.startswith(("http:", "https:")) or (not target and not fragment):
            continue
        path = (doc.parent / target).resolve() if target else doc
        if not path.exists():
            broken.append(f"{target}{fragment}: no such file")
        elif fragment and fragment[1:] not in anchors(path):
            broken.append(f"{target}{fragment}: no such heading")
    assert broken == []
