"""Built-in spaces: the space files shipped as package data (``search/space/builtin/*.toml``), by name.

The repository's ``spaces/`` is a symlink to that folder, so ``spaces/default.toml`` and the
built-in name ``default`` are one file. The CLI lists the names in ``--help`` from the same folder.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

BUILTIN = files("search") / "space" / "builtin"


def builtin_space(name: str) -> Traversable | None:
    """The built-in space file called ``name`` (``default``, not ``default.toml``), or None for anything else."""
    if not name or "/" in name or "\\" in name or "." in name:
        return None
    resource = BUILTIN.joinpath(f"{name}.toml")
    return resource if resource.is_file() else None
