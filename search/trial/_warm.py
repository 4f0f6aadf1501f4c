"""Warm starts in the harness: a space's ``[init]`` sources read once, checked before the study starts.

A source is an MLflow run id (its ``model/model.keras`` is downloaded from the tracking store) or
a ``.keras`` file. :func:`resolve_init` reads every source into role weights
(:func:`mtl.warmstart.load_source`) and loads them into one probe model per strategy the space can
take, so an unknown run, a missing file, a missing role or a shape mismatch is one
:class:`SpaceError` before anything is written. Each trial then gets a :class:`WarmStart` with its
sampled ``freeze``, and its MLflow run the lineage tags ``init.trunk`` and ``init.tower.<task>``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mtl.data import Splits
from mtl.errors import ConfigError
from mtl.models import build_model
from mtl.warmstart import Source, WarmStart, load_source, load_weights
from search.errors import SpaceError, StorageError
from search.space import Param, Space, sample
from search.stores import redact
from search.tracking import download_model


@dataclass(frozen=True)
class Sources:
    """The weights a space's ``[init]`` names, read once per sweep; ``refs`` holds the lineage tags."""

    trunk: Source | None = None
    towers: dict[str, Source] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)


def _load(path: str, ref: str, key: str, space: Space) -> Source:
    try:
        return load_source(path, ref)
    except ConfigError as exc:
        raise SpaceError(space.path, key, str(exc)) from None


def _read(ref: str, key: str, space: Space, tracking_uri: str) -> Source:
    """One source: a ``.keras`` file, or the model a run logged."""
    if ref.endswith(".keras"):
        if not Path(ref).is_file():
            raise SpaceError(space.path, key, f"no such file {ref}")
        return _load(ref, ref, key, space)
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = download_model(tracking_uri, ref, folder)[0]
        except StorageError as exc:
            raise SpaceError(space.path, key, f"{exc} ({redact(tracking_uri)})") from None
        return _load(str(path), ref, key, space)


def resolve_init(space: Space, splits: Splits, tracking_uri: str) -> Sources | None:
    """Read the space's ``[init]`` sources and check them against its models; None without ``[init]``."""
    if not space.init.given:
        return None
    read: dict[str, Source] = {}  # one read per distinct source

    def get(ref: str, key: str) -> Source:
        if ref not in read:
            read[ref] = _read(ref, key, space, tracking_uri)
        return read[ref]

    towers_key = "init.towers" if isinstance(space.init.towers, str) else None
    refs: dict[str, str] = {}
    trunk = None
    if space.init.trunk:
        trunk, refs["init.trunk"] = get(space.init.trunk, "init.trunk"), space.init.trunk
    towers = {}
    for task, ref in space.init.tower_sources(tuple(t.name for t in splits.tasks)).items():
        towers[task], refs[f"init.tower.{task}"] = get(ref, towers_key or f"init.towers.{task}"), ref
    sources = Sources(trunk, towers, refs)
    _probe(space, splits, sources)
    return sources


def _probe(space: Space, splits: Splits, sources: Sources) -> None:
    """Load the sources into one model per strategy the space can take (the shapes are fixed there)."""
    x = splits.train.x
    for strategy in space.params["strategy"].values():

        def first(param: Param, strategy: str = strategy) -> object:
            return strategy if param.name == "strategy" else param.values()[0]

        config = sample(space, splits.tasks, first).model
        model = build_model(config, splits.tasks, x.mean(axis=0), x.var(axis=0))
        try:
            load_weights(model, WarmStart(sources.trunk, sources.towers))
        except ConfigError as exc:
            raise SpaceError(space.path, "init", f"strategy {strategy}: {exc}") from None


def warm_start(space: Space, sources: Sources | None, freeze: str) -> WarmStart:
    """A trial's warm start: the sources (if any), its sampled ``freeze`` and the space's fine-tuning phase."""
    if sources is None:
        return WarmStart(freeze=freeze)
    return WarmStart(sources.trunk, sources.towers, freeze, space.training.finetune_after, space.training.finetune_lr_factor)
