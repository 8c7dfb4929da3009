"""Every Python snippet in README.md and docs/*.md is cut from example_dags/, so the docs cannot drift.

The rule (docs/development.md, "Snippets in the docs"): a Python block in a doc is preceded, on the line
right before its opening fence, by an HTML comment naming its source::

    <!-- snippet: example_dags/runway_video_to_video.py#restyle_clip -->

and its text is exactly the lines between ``# [START restyle_clip]`` and ``# [END restyle_clip]`` in that
file, dedented (the official Airflow providers' marker convention). This module fails when a block and its
source differ, when a named file or marker is missing, when a Python block names no source, and when an
example's markers are unbalanced. Shell, JSON and Dockerfile blocks are not Python and carry no marker.

It also runs the example tests of example_dags/ (``test_*.py`` there), which the simulator page quotes:
example_dags/ is not one of pytest's test paths.
"""

from __future__ import annotations

import importlib.util
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "example_dags"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

SNIPPET = re.compile(r"^<!-- snippet: (?P<path>example_dags/[\w./-]+\.py)#(?P<name>[\w-]+) -->$")
FENCE = re.compile(r"^```(?P<lang>[\w+-]*)\s*$")
MARKER = re.compile(r"^\s*# \[(?P<kind>START|END) (?P<name>[\w-]+)\]\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block of a doc, with the snippet comment right before it (if any)."""

    doc: str
    line: int
    lang: str
    text: str
    source: tuple[str, str] | None


def shown_name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name


def blocks(path: Path) -> tuple[list[Block], list[str]]:
    """The fenced blocks of a doc, and the problems found while reading it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    name = shown_name(path)
    found: list[Block] = []
    problems: list[str] = []
    n = 0
    while n < len(lines):
        if lines[n].startswith("````"):  # a block that shows fences (the rule's own example): skipped whole
            n += 1
            while n < len(lines) and not lines[n].startswith("````"):
                n += 1
            n += 1
            continue
        fence = FENCE.match(lines[n])
        comment = SNIPPET.match(lines[n])
        if comment:
            if n + 1 >= len(lines) or not lines[n + 1].startswith("```python"):
                problems.append(f"{name}:{n + 1}: a snippet comment must be followed by a ```python block")
            n += 1
            continue
        if lines[n].startswith("<!-- snippet"):
            problems.append(f"{name}:{n + 1}: malformed snippet comment {lines[n]!r}")
        if not fence:
            n += 1
            continue
        start = n
        n += 1
        while n < len(lines) and lines[n].rstrip() != "```":
            n += 1
        if n >= len(lines):
            problems.append(f"{name}:{start + 1}: a fenced block is never closed")
            break
        before = SNIPPET.match(lines[start - 1]) if start > 0 else None
        found.append(
            Block(
                doc=name,
                line=start + 1,
                lang=fence["lang"],
                text="\n".join(lines[start + 1 : n]),
                source=(before["path"], before["name"]) if before else None,
            )
        )
        n += 1
    return found, problems


def markers(path: Path) -> tuple[dict[str, str], list[str]]:
    """``name -> snippet text`` of one example file, and its marker problems (unbalanced, repeated)."""
    text = path.read_text(encoding="utf-8").splitlines()
    where = shown_name(path)
    snippets: dict[str, str] = {}
    problems: list[str] = []
    open_name: str | None = None
    open_at = 0
    for n, line in enumerate(text):
        match = MARKER.match(line)
        if not match:
            continue
        if match["kind"] == "START":
            if open_name is not None:
                problems.append(f"{where}:{n + 1}: [START {match['name']}] inside [START {open_name}]")
            open_name, open_at = match["name"], n
            continue
        if match["name"] != open_name:
            problems.append(f"{where}:{n + 1}: [END {match['name']}] without its [START]")
            continue
        if open_name in snippets:
            problems.append(f"{where}:{n + 1}: marker {open_name!r} is used twice")
        snippets[open_name] = snippet_text(text[open_at + 1 : n])
        open_name = None
    if open_name is not None:
        problems.append(f"{where}:{open_at + 1}: [START {open_name}] is never ended")
    return snippets, problems


def snippet_text(lines: list[str]) -> str:
    """The lines between two markers as a doc shows them: dedented, no blank lines at either end."""
    return textwrap.dedent("\n".join(line.rstrip() for line in lines)).strip("\n")


def check_block(block: Block) -> list[str]:
    """Why a doc's block breaks the rule (empty: it keeps it)."""
    at = f"{block.doc}:{block.line}"
    if not block.lang:
        return [f"{at}: a fenced block without a language (```python, ```bash, ```json...)"]
    if block.lang != "python":
        return []
    if block.source is None:
        return [
            f"{at}: a Python block without a snippet comment before it "
            "(<!-- snippet: example_dags/<file>.py#<marker> -->); cut it from an example DAG"
        ]
    path, name = block.source
    source = ROOT / path
    if not source.is_file():
        return [f"{at}: {path} does not exist"]
    snippets, _ = markers(source)
    if name not in snippets:
        return [f"{at}: {path} has no [START {name}] ... [END {name}] markers"]
    wanted = snippets[name]
    shown = "\n".join(line.rstrip() for line in block.text.splitlines()).strip("\n")
    if shown != wanted:
        return [f"{at}: differs from {path}#{name}; the source says:\n{wanted}"]
    return []


def all_blocks() -> list[Block]:
    return [block for doc in DOCS for block in blocks(doc)[0]]


def test_the_docs_exist() -> None:
    names = {doc.relative_to(ROOT).as_posix() for doc in DOCS}
    for name in (
        "README.md",
        "docs/connection.md",
        "docs/operators.md",
        "docs/outcomes.md",
        "docs/operations.md",
        "docs/deployment.md",
        "docs/development.md",
        "docs/simulator.md",
    ):
        assert name in names


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_python_block_is_its_example_dag_snippet(doc: Path) -> None:
    found, problems = blocks(doc)
    for block in found:
        problems += check_block(block)
    assert problems == [], "\n\n".join(problems)


def test_the_readme_and_the_docs_quote_snippets() -> None:
    python = [block for block in all_blocks() if block.lang == "python"]
    assert python, "no Python block in the docs: is the parser still finding fences?"
    assert any(block.doc == "README.md" for block in python), "the README shows no example"


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_example_markers_are_balanced(example: Path) -> None:
    assert markers(example)[1] == []


# --------------------------------------------------------------------------------------------------------
# The checker itself: a changed snippet, a missing marker and an unmarked block are each caught
# --------------------------------------------------------------------------------------------------------
def _block(tmp_path: Path, text: str) -> Block:
    probe = tmp_path / "probe.md"
    probe.write_text(text, encoding="utf-8")
    found, problems = blocks(probe)
    assert problems == []
    (block,) = found
    return block


SOURCE = "<!-- snippet: example_dags/runway_video_to_video.py#restyle_clip -->\n"


def test_the_checker_accepts_the_snippet_as_it_is(tmp_path: Path) -> None:
    text = markers(EXAMPLES / "runway_video_to_video.py")[0]["restyle_clip"]
    block = _block(tmp_path, f"{SOURCE}```python\n{text}\n```\n")
    assert check_block(block) == []


def test_the_checker_catches_a_changed_snippet(tmp_path: Path) -> None:
    text = markers(EXAMPLES / "runway_video_to_video.py")[0]["restyle_clip"].replace("seed=42", "seed=7")
    block = _block(tmp_path, f"{SOURCE}```python\n{text}\n```\n")
    (problem,) = check_block(block)
    assert "differs from example_dags/runway_video_to_video.py#restyle_clip" in problem


def test_the_checker_catches_a_missing_marker(tmp_path: Path) -> None:
    block = _block(
        tmp_path,
        "<!-- snippet: example_dags/runway_video_to_video.py#no_such_marker -->\n```python\nx = 1\n```\n",
    )
    (problem,) = check_block(block)
    assert "has no [START no_such_marker]" in problem


def test_the_checker_catches_a_block_without_a_source(tmp_path: Path) -> None:
    block = _block(tmp_path, "Some text.\n\n```python\nx = 1\n```\n")
    (problem,) = check_block(block)
    assert "without a snippet comment" in problem


def test_the_checker_catches_unbalanced_markers(tmp_path: Path) -> None:
    example = tmp_path / "example.py"
    example.write_text("# [START a]\nx = 1\n# [START b]\ny = 2\n# [END b]\n", encoding="utf-8")
    problems = markers(example)[1]
    assert any("inside [START a]" in p for p in problems)


# --------------------------------------------------------------------------------------------------------
# The example tests the simulator page quotes run as part of the suite
# --------------------------------------------------------------------------------------------------------
def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"example_dags_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_example_tests = _load(EXAMPLES / "test_examples_with_simulator.py")
test_example_a_generation_survives_a_rate_limit = _example_tests.test_a_generation_survives_a_rate_limit
test_example_the_model_router_on_runway_direct = _example_tests.test_the_model_router_example_on_runway_direct
