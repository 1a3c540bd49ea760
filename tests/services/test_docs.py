"""The README and docs/ name only files and folders that exist, and link only to pages that exist."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("*/README.md")),
        *sorted(ROOT.glob("*/*/README.md"))]
TOPS = r"(?:services|admin_panel|models|tests|bench|docs|alembic|assets|\.ci)"
PATH = re.compile(r"(?<![\w./-])(" + TOPS + r"/[\w./<>*-]*[\w/])")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


GENERATED = tuple(line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()
                  if "/" in line.strip().rstrip("/") or line.strip().endswith("/"))


def _exists(ref: str) -> bool:
    if ref.startswith(GENERATED):  # where tests and benchmarks write their output (git-ignored, made on a run)
        return True
    if "<" in ref or "*" in ref:  # a pattern such as features/<name>/ or test_*.py
        pattern = re.sub(r"<[^>]+>", "*", ref).rstrip("/")
        return any(ROOT.glob(pattern))
    return (ROOT / ref).exists()


def test_docs_name_files_that_exist():
    missing = [f"{doc.relative_to(ROOT)}: {ref}" for doc in DOCS for ref in PATH.findall(doc.read_text())
               if not _exists(ref)]
    assert missing == []


def test_docs_links_point_to_files_that_exist():
    missing = []
    for doc in DOCS:
        for target in LINK.findall(doc.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (doc.parent / target).exists():
                missing.append(f"{doc.relative_to(ROOT)}: {target}")
    assert missing == []
