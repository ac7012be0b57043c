"""The documents a newcomer follows lead somewhere: the README is short and links every page of docs/; every
relative link and image in the README and docs/ points to a file (and a heading) that exists; every Markdown file
or docs/ path that the code, the tests or the documents mention is in the repository, so a person who clones it
never follows a dead reference; the bad-input table has every row, each with what the project does."""
import os
import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
DOCUMENTS = [README, *DOCS]
MAX_README_LINES = 200
TOPICS = ("teaching", "classroom", "scaling", "full-size-data", "bundle", "default-model", "paper-check",
          "benchmarks", "method", "design", "environment", "bad-inputs")  # one page a topic (issue 23)
SCANNED = ("acn_core", "app", "pages", "bench", "tests")  # where code and tests cite documents
SCANNED_SUFFIXES = {".py", ".md", ".toml", ".txt", ".json", ".cfg", ".sh"}
SKIPPED_DIRS = {".git", ".venv", "__pycache__", "build", "data", ".pytest_cache", "node_modules"}
BAD_INPUT_ROWS = 47
CODE = re.compile(r"^( *)```.*?^\1```|(?<!`)`[^`\n]*(?:\n[^`\n]+)*`", re.S | re.M)  # fenced blocks and code spans
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"<(?:img|a)\b[^>]*?\b(?:src|href)=\"([^\"]+)\"", re.I)
MD_NAME = re.compile(r"(?<![\w/.-])((?:\.\.?/)*[\w][\w./-]*\.md)\b")
DOCS_PATH = re.compile(r"(?<![\w/.-])(docs/[\w./-]*\w)")
URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+")
REPO_PATH = re.compile(r"(?<![\w/.~-])((?:acn_core|app|pages|bench|tests|assets|experiments|docs)/[\w./-]*)")


def without_code(text: str) -> str:
    """The text with code blocks and code spans blanked out (line breaks kept): links in code are not links."""
    return CODE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every Markdown link or image and every HTML <img src> / <a href> in a document."""
    text = without_code(path.read_text())
    found = [(m.start(1), m.group(1)) for m in LINK.finditer(text)]
    found += [(m.start(1), m.group(1)) for m in HTML_LINK.finditer(text)]
    return sorted((text.count("\n", 0, start) + 1, target) for start, target in found)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, code marks and punctuation dropped, spaces to hyphens."""
    heading = heading.strip().lower().replace("`", "")
    kept = "".join(c for c in heading if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^( *)```.*?^\1```", "", path.read_text(), flags=re.S | re.M)
    seen, found = {}, set()
    for heading in re.findall(r"^#{1,6}\s+(.*?)\s*#*\s*$", text, re.M):
        base = slug(heading)
        found.add(base if base not in seen else f"{base}-{seen[base]}")
        seen[base] = seen.get(base, 0) + 1
    return found


def broken(path: Path, target: str) -> str | None:
    """Why a link's target does not resolve, or None."""
    if URL.match(target) or target.startswith("mailto:"):
        return None
    file, _, anchor = target.partition("#")
    where = (path.parent / file).resolve() if file else path
    if not where.exists():
        return f"{file} does not exist"
    if ROOT in path.parents and ROOT not in where.parents:
        return f"{file} lies outside the repository"
    if anchor and where.suffix == ".md" and anchor not in anchors(where):
        return f"{where.name} has no heading #{anchor}"
    return None


def repository_files() -> list[Path]:
    files = []
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders if name not in SKIPPED_DIRS]
        files += [Path(folder) / name for name in names]
    return files


def scanned_files() -> list[Path]:
    files = [path for name in SCANNED for path in (ROOT / name).rglob("*")
             if path.is_file() and path.suffix in SCANNED_SUFFIXES and "__pycache__" not in path.parts]
    return [path for path in sorted(files) if path != Path(__file__).resolve()] + DOCUMENTS  # not this file's examples


def references(text: str) -> list[tuple[int, str]]:
    """(line, name) of every *.md file name and docs/ path mentioned in a text, URLs left out."""
    text = URL.sub(lambda m: " " * len(m.group(0)), text)
    found = [(m.start(1), m.group(1)) for m in MD_NAME.finditer(text)]
    found += [(m.start(1), m.group(1)) for m in DOCS_PATH.finditer(text)]
    return sorted({(text.count("\n", 0, start) + 1, name) for start, name in found})


def output(name: str) -> bool:
    """A file a command writes, not a document to read: under a placeholder folder (DIR/report.md) or build/."""
    first = name.split("/")[0]
    return "/" in name and (first == "build" or first.isupper())


def resolves(citing: Path, name: str, basenames: set[str]) -> bool:
    if (ROOT / name).exists() or (citing.parent / name).exists():
        return True
    return "/" not in name and name in basenames  # a bare name: a file of that name somewhere in the repository


# ----------------------------------------------------------------------------- the tests

def test_the_readme_is_short():
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; at most {MAX_README_LINES}: move the rest to docs/"


def test_each_topic_has_its_page_and_the_readme_links_every_page():
    linked = {(README.parent / target.partition("#")[0]).resolve() for _, target in links(README)}
    missing = [topic for topic in TOPICS if not (ROOT / "docs" / f"{topic}.md").is_file()]
    assert not missing, f"docs/ lacks the pages {missing}"
    orphans = [page.name for page in DOCS if page.resolve() not in linked]
    assert not orphans, f"README.md links no way to {orphans}"


def test_the_checks_themselves_see_links_anchors_and_references(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A title: with `code`\n[a](page.md#a-title-with-code) ![b](missing.png) `[c](inside-code.md)`\n"
                    '<img src="gone.png" width="9"> [d](#nowhere) [e](https://example.org/x.md)\n')
    assert links(page) == [(2, "missing.png"), (2, "page.md#a-title-with-code"), (3, "#nowhere"),
                           (3, "gone.png"), (3, "https://example.org/x.md")]
    assert [broken(page, target) is None for _, target in links(page)] == [False, True, False, False, True]
    text = "see docs/method.md, NOTES.md and https://example.org/README.md;\nDIR/report.md, `../x/y.md`"
    assert references(text) == [(1, "NOTES.md"), (1, "docs/method.md"), (2, "../x/y.md"), (2, "DIR/report.md")]
    assert output("DIR/report.md") and output("build/paper-check/report.md") and not output("docs/method.md")


@pytest.mark.parametrize("path", DOCUMENTS, ids=[str(p.relative_to(ROOT)) for p in DOCUMENTS])
def test_every_link_and_image_points_to_a_file_that_exists(path):
    found = links(path)
    dead = [f"{path.relative_to(ROOT)}:{line}: {target}: {why}" for line, target in found
            if (why := broken(path, target))]
    assert not dead, "\n".join(dead)


def test_every_mentioned_markdown_file_and_docs_path_is_in_the_repository():
    """Code comments, tests and documents may cite a document only if a person who clones the repository has it."""
    basenames = {path.name for path in repository_files()}
    dead = []
    for path in scanned_files():
        for line, name in references(path.read_text(errors="replace")):
            if not output(name) and not resolves(path, name, basenames):
                dead.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert not dead, "mentions of files the repository does not have:\n" + "\n".join(dead)


def test_every_repository_path_the_documents_name_exists():
    """`acn_core/training/codes.py`, `assets/lessons/tour.json`: a newcomer finds each behaviour where the README
    and docs/ say it lives."""
    dead = []
    for path in DOCUMENTS:
        text = URL.sub(lambda m: " " * len(m.group(0)), path.read_text())
        for match in REPO_PATH.finditer(text):
            name = match.group(1).rstrip("./")
            if not (ROOT / name).exists():
                dead.append(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}: {name}")
    assert not dead, "paths that do not exist:\n" + "\n".join(dead)


def test_the_bad_input_table_has_every_row_with_what_the_project_does_and_real_tests():
    rows = re.findall(r"^\| (\d+) \|(.*)\|\s*$", (ROOT / "docs" / "bad-inputs.md").read_text(), re.M)
    assert [int(number) for number, _ in rows] == list(range(1, BAD_INPUT_ROWS + 1))
    for number, rest in rows:
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", rest)]
        assert len(cells) == 4 and all(cells[:3]), f"row {number}: input, libraries, what we do, tests: {cells}"
        for test_file in re.findall(r"`(test_\w+\.py)`", cells[3]):
            assert (ROOT / "tests" / test_file).is_file(), f"row {number} names {test_file}, which does not exist"
