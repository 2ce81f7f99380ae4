"""The documentation in docs/ is complete and cites only what a clone of the repository has."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from xaidesk.core import list_methods

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
METHODS_PAGE = DOCS / "methods.md"
THIS_FILE = Path(__file__).resolve()

#: Citations of design notes that live outside the repository. ``../shared/data/...`` stays
#: allowed: tests read optional data sets from there and skip when they are absent.
OUTSIDE_CITATIONS = re.compile(
    r"/work/shared"
    r"|shared/(?:ARCHITECTURE|METHODS)\.md"
    r"|\b(?:ARCHITECTURE|METHODS)\.md"
    r"|\.\./shared/(?!data/)"
)
#: First components of repository paths that the docs may cite.
REPO_FOLDERS = ("xaidesk", "tests", "resources", "scripts", "bench", "packaging", "docs")
BACKTICKED = re.compile(r"`([^`\n]+)`")
MODULE_NAME = re.compile(r"^xaidesk(?:\.\w+)+$")
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
HEADING = re.compile(r"^(#{1,6})\s")


def repository_files() -> list[Path]:
    """Tracked files plus new files git does not ignore (a plain walk when git is unavailable)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, check=True, timeout=60,
        ).stdout.decode("utf-8").split("\0")
        files = [ROOT / name for name in listed if name]
    except (OSError, subprocess.SubprocessError):
        files = [p for folder in REPO_FOLDERS if (ROOT / folder).is_dir() for p in (ROOT / folder).rglob("*")]
        files += [p for p in ROOT.glob("*") if p.is_file()]
    return sorted({p for p in files if p.is_file() and ".venv" not in p.parts})


def read_text(path: Path) -> str | None:
    try:
        return path.read_text("utf-8")
    except (UnicodeDecodeError, OSError):
        return None  # binary files (weights, images, sounds)


def doc_pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def test_docs_exist():
    names = {p.name for p in doc_pages()}
    assert {"architecture.md", "methods.md"} <= names


def test_nothing_cites_design_notes_outside_the_repository():
    offenders = []
    for path in repository_files():
        if path.resolve() == THIS_FILE:
            continue
        text = read_text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE_CITATIONS.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "cite docs/architecture.md or docs/methods.md instead:\n" + "\n".join(offenders)


def cited_paths(text: str) -> list[str]:
    """Backticked spans that name a repository path (``xaidesk/core/registry.py``, ``tests/``)."""
    return [span for span in BACKTICKED.findall(text) if span.split("/", 1)[0] in REPO_FOLDERS and "/" in span]


def path_exists(span: str) -> bool:
    if "<" in span:  # a pattern such as resources/models/<name>.pt: some file must match
        return any(ROOT.glob(re.sub(r"<[^>]*>", "*", span)))
    return (ROOT / span).exists()


def module_exists(name: str) -> bool:
    """``xaidesk.a.b`` is a module or package, or ``xaidesk.a`` is one and defines ``b``."""
    parts = name.split(".")
    for cut in (len(parts), len(parts) - 1):
        base = ROOT.joinpath(*parts[:cut])
        source = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        if source.is_file():
            rest = parts[cut:]
            return not rest or re.search(rf"^\s*(?:def|class)\s+{rest[0]}\b|^\s*{rest[0]}\s*[:=]",
                                         source.read_text("utf-8"), re.MULTILINE) is not None
    return False


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: p.name)
def test_every_path_the_docs_cite_exists(page):
    text = page.read_text("utf-8")
    missing = [span for span in cited_paths(text) if not path_exists(span)]
    missing += [span for span in BACKTICKED.findall(text) if MODULE_NAME.match(span) and not module_exists(span)]
    missing += [link for link in MARKDOWN_LINK.findall(text)
                if "://" not in link and not (page.parent / link).exists()]
    assert not missing, f"{page.name} cites what the repository does not have: {missing}"


def test_the_path_check_can_fail():
    assert cited_paths("see `xaidesk/core/registry.py` and `run.json`") == ["xaidesk/core/registry.py"]
    assert path_exists("xaidesk/core/registry.py") and path_exists("resources/models/<name>.pt")
    assert not path_exists("xaidesk/core/no_such_module.py")
    assert module_exists("xaidesk.core.registry") and module_exists("xaidesk.core.registry.register_method")
    assert not module_exists("xaidesk.core.no_such_thing")
    assert OUTSIDE_CITATIONS.search("see " + "../shared/" + "ARCHITECTURE.md")
    assert not OUTSIDE_CITATIONS.search('QM7 = ROOT / ".." / "shared" / "data"; skip: ../shared/data/qm7')


def method_sections(text: str) -> dict[str, str]:
    """Each registered method's section of the methods page: its heading down to the next one as high."""
    lines = text.splitlines()
    sections = {}
    for info in list_methods():
        tag = f"`{info.name}`"
        start = next((i for i, line in enumerate(lines) if HEADING.match(line) and tag in line), None)
        if start is None:
            continue
        level = len(HEADING.match(lines[start]).group(1))
        end = next((j for j in range(start + 1, len(lines))
                    if HEADING.match(lines[j]) and len(HEADING.match(lines[j]).group(1)) <= level), len(lines))
        sections[info.name] = "\n".join(lines[start:end])
    return sections


def test_the_section_check_can_fail():
    sections = method_sections("## Family\n### `lime`\n- `seed` = 0\n### `relax`\ntext\n## Other\n`occlusion`\n")
    assert set(sections) == {"lime", "relax"}
    assert "`seed`" in sections["lime"] and "`seed`" not in sections["relax"]


def test_every_registered_method_has_a_section_in_the_methods_page():
    sections = method_sections(METHODS_PAGE.read_text("utf-8"))
    missing = [info.name for info in list_methods() if info.name not in sections]
    assert not missing, f"docs/methods.md has no section headed by these methods: {missing}"


def test_every_parameter_is_described_in_its_methods_section():
    sections = method_sections(METHODS_PAGE.read_text("utf-8"))
    missing = [f"{info.name}: {param.name}" for info in list_methods() if info.name in sections
               for param in info.params if f"`{param.name}`" not in sections[info.name]]
    assert not missing, f"docs/methods.md does not describe these parameters: {missing}"
