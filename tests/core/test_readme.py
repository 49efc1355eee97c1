"""The README's "Where is what" table leads to code that exists: a moved module or a renamed
function makes this fail until the table follows."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _rows() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Where is what", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ") and "`" in line]


def _references(row: str) -> list[tuple[str, str]]:
    """(path, name) for each `name` that follows a `path.py` in the row."""
    found, path = [], None
    for token in re.findall(r"`([^`]+)`", row.split("|")[2]):
        if token.endswith(".py"):
            path = token
            found.append((path, ""))
        elif path and re.fullmatch(r"[A-Za-z_]\w*", token):
            found.append((path, token))
    return found


def _defines(path: Path, name: str) -> bool:
    source = path.read_text(encoding="utf-8")
    return re.search(rf"^(def|class) {name}\b|^{name}\b.*=", source, re.M) is not None


def test_the_table_answers_the_newcomers_questions():
    questions = [row.split("|")[1].strip() for row in _rows()]
    assert any("deadline rule" in q for q in questions)
    assert any("Who may see what" in q for q in questions)
    assert any("statement figure" in q for q in questions)


def test_every_path_and_name_in_the_table_exists():
    references = [ref for row in _rows() for ref in _references(row)]
    assert len(references) > 20
    missing = [f"{path} {name}".strip() for path, name in references
               if not (ROOT / path).is_file() or (name and not _defines(ROOT / path, name))]
    assert missing == []
