"""The documentation holds together: README.md and docs/*.md link only to files
and headings that exist, and the make targets, paths, modules and settings they
name are the project's own."""

import importlib.util
import re
from pathlib import Path

import pytest

from services.common import settings_table

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PAGE_IDS = [str(page.relative_to(ROOT)) for page in PAGES]

FENCED_BLOCK = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`([^`]+)`")
HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
MAKE_TARGET = re.compile(r"(?<![\w-])make\s+([a-z][\w-]*)")
MAKEFILE_RULE = re.compile(r"^([\w-]+)\s*:(?!=)", re.MULTILINE)
REPO_PATH = re.compile(r"(?<![\w/.$-])((?:scripts|bench|deploy|services|pipeline|tests)/[^\s`'\"(),;|]*)")
PYTHON_MODULE = re.compile(r"python3?}?\s+-m\s+([\w.]+)")
SETTING_NAME = re.compile(r"\bUPLOADER_[A-Z0-9_]*")


def known_setting_names() -> set[str]:
    """Every UPLOADER_* variable the project knows: the rows of the generated settings table (every settings
    class, the scripts' own included), and the knobs the tests read (tests/)."""
    test_files = [path for path in (ROOT / "tests").rglob("*") if path.is_file() and path != Path(__file__).resolve()]
    return {row.variable for row in settings_table.rows()} | names_written_in(test_files)


def names_written_in(paths: list[Path]) -> set[str]:
    names = set()
    for path in paths:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        names.update(name for name in SETTING_NAME.findall(text) if not name.endswith("_"))
    return names


def readable(page: Path) -> str:
    """The page as a reader sees it: without HTML comments."""
    return HTML_COMMENT.sub("", page.read_text())


def code_of(page: Path) -> list[str]:
    """The page's code blocks and inline code spans."""
    text = readable(page)
    return FENCED_BLOCK.findall(text) + INLINE_CODE.findall(FENCED_BLOCK.sub("", text))


def prose_of(page: Path) -> str:
    return INLINE_CODE.sub("", FENCED_BLOCK.sub("", readable(page)))


def github_anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped, spaces become hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors_of(page: Path) -> set[str]:
    anchors, seen = set(), {}
    for heading in HEADING.findall(FENCED_BLOCK.sub("", readable(page))):
        anchor = github_anchor(heading)
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        anchors.add(anchor if count == 0 else f"{anchor}-{count}")
    return anchors


def broken_link(page: Path, target: str) -> str | None:
    """Why a relative link of a page leads nowhere, or None when it leads to a file and heading that exist."""
    file_part, _, anchor = target.partition("#")
    linked = (page.parent / file_part).resolve() if file_part else page
    if not linked.exists():
        return f"{target}: no file {linked}"
    if anchor and linked.suffix == ".md" and anchor not in anchors_of(linked):
        return f"{target}: no heading of {linked.name} has the anchor #{anchor}"
    return None


def importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page):
    targets = [target for target in LINK.findall(prose_of(page)) if not re.match(r"[a-z]+:", target)]
    broken = [why for why in (broken_link(page, target) for target in targets) if why]
    assert not broken, f"{page.name} has broken links:\n" + "\n".join(broken)


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_make_command_names_a_target_of_the_makefile(page):
    targets = set(MAKEFILE_RULE.findall((ROOT / "Makefile").read_text()))
    written = {target for code in code_of(page) for target in MAKE_TARGET.findall(code)}
    assert written - targets == set(), f"{page.name} names make targets the Makefile lacks"


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_path_of_the_repository_written_as_code_exists(page):
    paths = {path.rstrip(".") for code in code_of(page) for path in REPO_PATH.findall(code)}
    placeholders = {path for path in paths if re.search(r"[<{]", path)}
    missing = {path for path in paths - placeholders if not any(ROOT.glob(path.rstrip("/")))}
    assert missing == set(), f"{page.name} names paths that do not exist"


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_python_module_run_with_dash_m_is_importable(page):
    modules = {module for code in code_of(page) for module in PYTHON_MODULE.findall(code)}
    missing = {module for module in modules if not importable(module)}
    assert missing == set(), f"{page.name} runs modules that cannot be imported"


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_uploader_variable_written_is_a_known_setting(page):
    known = known_setting_names()
    written = set(SETTING_NAME.findall(readable(page)))
    # A name ending in "_" is a family (UPLOADER_ARCHIVE_*): some known name must start with it.
    unknown = {name for name in written
               if name not in known and not (name.endswith("_") and any(k.startswith(name) for k in known))}
    assert unknown == set(), f"{page.name} names UPLOADER_ variables no setting, script or test reads"
