"""Built-in spaces: package data found by name, the same files as the repository's ``spaces/``."""

from __future__ import annotations

from pathlib import Path

import pytest

import search
from search.cli import DEFAULT_SPACE, build_parser, builtin_space_names
from search.errors import SpaceError
from search.space import load_space

REPO_SPACES = Path(__file__).resolve().parents[3] / "spaces"


def test_builtin_names_are_the_package_data_and_the_repository_spaces() -> None:
    names = builtin_space_names()
    assert DEFAULT_SPACE in names and "smoke" in names
    assert names == sorted(p.stem for p in REPO_SPACES.glob("*.toml"))
    assert REPO_SPACES.resolve() == Path(search.__file__).parent / "space" / "builtin"  # one source: spaces/ is a symlink


@pytest.mark.parametrize("name", ["default", "smoke"])
def test_a_builtin_name_loads_its_file_from_any_directory(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from_repo = load_space(REPO_SPACES / f"{name}.toml")
    monkeypatch.chdir(tmp_path)
    assert load_space(name).fingerprint() == from_repo.fingerprint()


def test_only_a_bare_builtin_name_is_a_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for path in ("default.toml", "spaces/default.toml", "no-such-space"):  # paths, relative to the working directory
        with pytest.raises(SpaceError, match="cannot read space file"):
            load_space(path)


def test_help_names_the_builtin_spaces(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert all(name in help_text for name in builtin_space_names())
    assert build_parser().parse_args(["run"]).space == DEFAULT_SPACE
