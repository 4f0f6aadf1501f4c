"""MkDocs hook: the pages that describe the code are checked against it at every build.

- ``space-file.md``: each table after ``<!-- keys: SECTION -->`` must list exactly the keys the space
  parser accepts in that section (asked of the parser itself: a probe with an unknown key makes it
  name the known ones), and a ``default`` cell written as one code span must equal the parser's
  default. ``<!-- generated: options -->`` becomes the table of strategy and weighting options,
  built from ``mtl.models.STRATEGY_OPTIONS`` and ``mtl.weighting.WEIGHTINGS``.
- ``design.md``: the table after ``<!-- layout -->`` must name every top-level path that git tracks,
  and a row for a package folder must name each of its modules (``_file``, ``tasks``, ...).

A mismatch stops the build with one line naming the page, the section and the key, so the reference
cannot drift from the code. Importing ``search.space`` loads TensorFlow (a few seconds).
"""

from __future__ import annotations

import logging
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

log = logging.getLogger("mkdocs.hooks.reference")
ROOT = Path(__file__).resolve().parents[2]
KNOWN = re.compile(r"\(known: ([^)]*)\)")
CODE = re.compile(r"^`([^`]+)`$")

# section -> a space file whose parse fails on the unknown key ``zzz`` and so names the section's known keys
PROBES = {
    "top level": "zzz = 1",
    "study": "[study]\nzzz = 1",
    "data": "[data]\nzzz = 1",
    "data.tasks": '[data]\nsource = "t.csv"\n[[data.tasks]]\nzzz = 1',
    "synthetic": '[data]\nsource = "synthetic"\noptions = { zzz = 1 }',
    "training": '[data]\nsource = "synthetic"\n[training]\nzzz = 1',
    "objective": '[data]\nsource = "synthetic"\n[objective]\nzzz = 1',
    "search": '[data]\nsource = "synthetic"\n[search]\nzzz = 1',
    "compare": '[data]\nsource = "synthetic"\n[compare]\nzzz = 1',
    "init": '[data]\nsource = "synthetic"\n[init]\nzzz = 1',
    "baselines": '[data]\nsource = "synthetic"\n[baselines]\nzzz = 1',
    "tracking": '[data]\nsource = "synthetic"\n[tracking]\nzzz = 1',
}


def _known(section: str) -> list[str]:
    from search.errors import SpaceError
    from search.space import parse_space

    try:
        parse_space(PROBES[section], "probe")
    except SpaceError as exc:
        found = KNOWN.search(str(exc))
        if found:
            return [k.strip() for k in found.group(1).split(",")]
        raise PluginError(f"space-file.md: the parser's answer for [{section}] names no keys: {exc}") from None
    raise PluginError(f"space-file.md: the parser accepted an unknown key in [{section}]")


def _defaults(section: str) -> dict[str, Any]:
    """The parser's defaults of a section's keys (where it has one that a table could write)."""
    import dataclasses
    import inspect

    from mtl.data import DATASETS
    from search.space import CompareSettings
    from search.space._settings import SEARCH, DataSettings, StudySettings, TrainingSettings

    classes = {"study": StudySettings, "data": DataSettings, "training": TrainingSettings, "compare": CompareSettings}
    if section in classes:
        return {f.name: f.default for f in dataclasses.fields(classes[section]) if f.default is not dataclasses.MISSING}
    if section == "search":
        return {name: default for name, (_, _, default) in SEARCH.items()}
    if section == "synthetic":
        return {p.name: p.default for p in inspect.signature(DATASETS["synthetic"]).parameters.values()}
    if section == "objective":
        return {"per_task": False}
    if section == "tracking":
        from search.space._settings import TrackingSettings

        return {f.name: f.default for f in dataclasses.fields(TrackingSettings) if f.default is not dataclasses.MISSING}
    return {}


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table_after(lines: list[str], start: int) -> tuple[int, int]:
    """The first markdown table at or after line ``start``: (first line, line after the last)."""
    i = start
    while i < len(lines) and not lines[i].lstrip().startswith("|"):
        i += 1
    j = i
    while j < len(lines) and lines[j].lstrip().startswith("|"):
        j += 1
    return i, j


def _matches(cell: str, value: Any) -> bool:
    written = CODE.match(cell)
    if not written:
        return True  # prose ("none", "file stem"): not checked
    text = written.group(1)
    try:
        parsed: Any = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = text.strip('"')
    return bool(parsed == value or (isinstance(value, str) and text.strip('"') == value))


def _check_keys(page: str, markdown: str) -> str:
    lines = markdown.split("\n")
    for n, line in enumerate(lines):
        marker = re.match(r"<!-- keys: ([\w. ]+) -->", line.strip())
        if not marker:
            continue
        section = marker.group(1).strip()
        first, end = _table_after(lines, n + 1)
        header = [c.lower() for c in _cells(lines[first])]
        column = header.index("default") if "default" in header else None
        written: dict[str, list[str]] = {}
        for row in lines[first + 2:end]:
            cells = _cells(row)
            key = CODE.match(cells[0])
            if key:  # rows whose first cell is prose ("strategy options") are explained by the generated table
                written[key.group(1).strip("[]")] = cells
        known = _known(section)
        if section == "search":  # the strategy and weighting options have a generated table of their own
            from search.space._settings import OPTIONS, WEIGHTING_OPTIONS

            known = [k for k in known if k not in OPTIONS and k not in WEIGHTING_OPTIONS or k in written]
        missing, unknown = sorted(set(known) - set(written)), sorted(set(written) - set(known))
        if missing or unknown:
            raise PluginError(f"{page}: [{section}] table differs from the parser: undocumented {missing}, unknown {unknown}")
        defaults = _defaults(section)
        for key, cells in written.items():
            if column is not None and key in defaults and not _matches(cells[column], defaults[key]):
                raise PluginError(f"{page}: [{section}] {key}: the table says {cells[column]}, the parser's default is {defaults[key]!r}")
    return markdown.replace("<!-- generated: options -->", _options_table())


def _options_table() -> str:
    from mtl.models import STRATEGY_OPTIONS
    from mtl.weighting import WEIGHTINGS

    rows = ["| key | for | type | default |", "|---|---|---|---|"]
    options: dict[str, tuple[list[str], str, Any]] = {}
    for strategy, opts in STRATEGY_OPTIONS.items():
        for name, (typ, default) in opts.items():
            users, _, _ = options.setdefault(name, ([], typ.__name__, default))
            users.append(f"`{strategy}`")
    for name, (users, typ, default) in options.items():
        shown = '`"auto"`' if name == "groups" else f"`{default!r}`"  # groups' empty default is made "auto" by the parser
        rows.append(f"| `{name}` | strategy {', '.join(users)} | {typ} | {shown} |")
    for scheme, cls in WEIGHTINGS.items():
        for option, default in cls.OPTIONS.items():
            rows.append(f"| `{scheme}_{option}` | weighting `{scheme}` | float | `{default!r}` |")
    return "\n".join(rows)


def _tracked() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        return out.split()
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: the files on disk
        return [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file() and ".git" not in p.parts]


def _check_layout(page: str, markdown: str) -> None:
    lines = markdown.split("\n")
    start = next((n for n, line in enumerate(lines) if line.strip() == "<!-- layout -->"), None)
    if start is None:
        return
    first, end = _table_after(lines, start + 1)
    rows = {}
    for row in lines[first + 2:end]:
        cells = _cells(row)
        for path in re.findall(r"`([^`]+)`", cells[0]):
            rows[path.rstrip("/")] = " ".join(cells[1:])
    tracked = _tracked()
    tops = {p.split("/")[0] for p in tracked}
    missing = sorted(t for t in tops if not any(r == t or r.startswith(t + "/") for r in rows) and t not in {".gitignore"})
    if missing:
        raise PluginError(f"{page}: the layout table has no row for {missing}")
    for path, text in rows.items():
        if not (ROOT / path).exists():
            raise PluginError(f"{page}: the layout table names {path}, which is not in the tree")
        if not (ROOT / path / "__init__.py").exists() or not path.startswith(("src/", "search")):  # the packages, not tests/
            continue
        modules = sorted({p[len(path) + 1:-3] for p in tracked
                          if p.startswith(path + "/") and p.endswith(".py") and p.count("/") == path.count("/") + 1} - {"__init__"})
        undocumented = [m for m in modules if f"`{m}`" not in text and f"`{m} " not in text and f" {m}`" not in text]
        if undocumented:
            raise PluginError(f"{page}: the layout row {path}/ does not name its modules {undocumented}")


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """Check (and fill in) the pages that describe the code."""
    name = page.file.src_uri
    if name == "space-file.md":
        return _check_keys(name, markdown)
    if name == "design.md":
        _check_layout(name, markdown)
    return markdown
