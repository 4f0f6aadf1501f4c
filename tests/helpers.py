"""Helpers the test modules share: the CLI in a real process or in this one, its one-line errors, and spaces."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from search.cli import build_parser, cmd_run
from tests.conftest import TINY_SPACE


def space_toml(base: str = TINY_SPACE, **sections: Mapping[str, Any] | None) -> str:
    """``base`` (a space's TOML text) with ``sections`` set, written back as TOML (``tomli_w``).

    Each keyword is a section (``search={"tower_width": 12}``) whose keys are set (a dotted key reaches into a
    nested table: ``data={"options.n_samples": 1000}``); a key or a section given as None is removed. Unlike a text
    replacement, a change cannot silently miss when the base's text changes.
    """
    doc = tomllib.loads(base)
    for name, table in sections.items():
        if table is None:
            doc.pop(name, None)
            continue
        for dotted, value in table.items():
            *path, key = [name, *dotted.split(".")]
            where = doc
            for part in path:
                where = where.setdefault(part, {})
            if value is None:
                where.pop(key, None)
            else:
                where[key] = value
    return tomli_w.dumps(doc)


def cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m search ARGS`` in a real process run in ``cwd``, its output captured."""
    return subprocess.run([sys.executable, "-m", "search", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    """The process exited 2 with one ``error:`` line on stderr holding every needle, and no traceback."""
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def run_in_process(*args: str) -> int:
    """``python -m search run ARGS`` in this process, without the CLI's error wrapper (that is tested through
    a real process): a bad input raises its :class:`MtlError`."""
    return cmd_run(build_parser().parse_args(["run", *args]))


# a table of mixed column types (tests.conftest.mixed_frame, written as mixed.csv) with three tasks of three kinds
MIXED_SPACE = """
[study]
name = "mixed"
trials = 1
sampler = "random"
seed = 1

[data]
source = "mixed.csv"
stratify = "churn"

[[data.tasks]]
name = "price"
kind = "regression"

[[data.tasks]]
name = "churn"
kind = "binary"

[[data.tasks]]
name = "segment"
kind = "multiclass"
column = "segment label"

[training]
epochs = 2
patience = 2

[search]
shared_depth = 1
shared_width = 8
tower_depth = 1
tower_width = 4
weighting = "gradnorm"
learning_rate = 0.01
batch_size = 32
"""
