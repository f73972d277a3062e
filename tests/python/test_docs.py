"""The paths the documentation and the code's comments point at are in the repository.

Issue 19: the README sent readers to `../shared/seeds/…`, a folder outside the repository that a
clone does not have; the seeds are now in docs/seeds/.
"""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Markdown files a reader opens, and the code whose comments cite files.
DOCS = sorted([ROOT / "README.md", ROOT / "BENCHMARKS.md", *ROOT.glob("docs/**/*.md"), *ROOT.glob("data/**/*.md")])
SOURCES = sorted([*ROOT.glob("src/**/*.rs"), *ROOT.glob("tests/*.rs"), *ROOT.glob("scripts/*")])
# Backquoted paths under these folders name files of the repository (others, such as
# `out/demo` or `store/flows`, are examples of what a user makes).
REPO_DIRS = ("docs/", "data/", "sql/", "scripts/", "tests/data/", "tests/python/", "fuzz/")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
QUOTED = re.compile(r"`((?:" + "|".join(map(re.escape, REPO_DIRS)) + r")[^`\s*?{}…]*)`")


@pytest.mark.parametrize("path", DOCS + SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_reference_leaves_the_repository(path):
    text = path.read_text(errors="replace")
    assert not re.search(r"\.\./(?:\.\./)*shared/", text), f"{path.relative_to(ROOT)} points outside the repository"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_linked_and_quoted_paths_exist(path):
    text = path.read_text()
    missing = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # a URL
        if not (path.parent / target).exists():
            missing.append(target)
    for quoted in QUOTED.findall(text):
        if not (ROOT / quoted).exists():
            missing.append(quoted)
    assert not missing, f"{path.relative_to(ROOT)} names paths that do not exist: {missing}"
