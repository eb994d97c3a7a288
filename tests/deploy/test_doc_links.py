"""The documentation stays inside the repository: every relative link in a Markdown file leads to a file or folder
of the repository, and no page sends the reader to paths that exist only on the machines it was written on."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIPPED = {".git", ".venv", "node_modules", ".data", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
LINK = re.compile(r"\]\(([^)\s]+)\)")
OUTSIDE = re.compile(r"(?<![\w.-])(\.briefs/|shared/reference/|/work/)")


def pages() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.md") if not SKIPPED & set(p.relative_to(ROOT).parts))


def prose(page: Path) -> str:
    """The page without its code blocks (commands and samples are not links)."""
    return re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)


def test_every_relative_link_leads_to_a_file_of_the_repository() -> None:
    broken = []
    for page in pages():
        for target in LINK.findall(prose(page)):
            path = target.split("#", 1)[0]
            if not path or re.match(r"[a-z][a-z0-9+.-]*:", path):
                continue  # an anchor on the same page, or a URL
            resolved = (page.parent / path).resolve()
            if not resolved.exists() or ROOT not in resolved.parents:
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_no_page_points_at_paths_outside_the_repository() -> None:
    found = [
        f"{page.relative_to(ROOT)}: {match.group(0)}"
        for page in pages()
        for match in OUTSIDE.finditer(page.read_text(encoding="utf-8"))
    ]
    assert found == []
