"""Scheduler templates rendered from one source, so every one runs the CLI's own worker command.

``search/cluster/templates/`` holds the templates (``string.Template`` syntax), shipped as package data
and read with :mod:`importlib.resources`; the repository's ``deploy/templates`` is a symlink to it.
``python -m search deploy KIND --study NAME ...`` prints one rendered; ``deploy/*`` are rendered examples.
Connection URLs never appear in them: workers read ``MTL_STORAGE`` and ``MLFLOW_TRACKING_URI``
from their environment (a Kubernetes Secret, or the submitting shell).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from importlib.resources import files
from string import Template

TEMPLATES = files("search.cluster") / "templates"
KINDS = {"k8s-job": "k8s-job.yaml", "k8s-cronjob": "k8s-cronjob.yaml", "slurm": "slurm.sh", "cron": "cron.txt"}


@dataclass(frozen=True)
class Deployment:
    """What a rendered template needs."""

    study: str
    workers: int = 4
    image: str = "mtl-search:latest"
    schedule: str = "0 2 * * *"
    secret: str = "mtl-search-stores"


def worker_command(study: str) -> list[str]:
    """The command every scheduled worker runs (URLs come from the environment)."""
    return ["python", "-m", "search", "worker", "--study", study]


def render(kind: str, deployment: Deployment) -> str:
    """Template ``kind`` (a key of :data:`KINDS`) filled in for ``deployment``."""
    command = worker_command(deployment.study)
    text = (TEMPLATES / KINDS[kind]).read_text(encoding="utf-8")
    return Template(text).substitute(
        study=deployment.study,
        workers=deployment.workers,
        last_index=deployment.workers - 1,
        image=deployment.image,
        schedule=deployment.schedule,
        secret=deployment.secret,
        command_json=json.dumps(command),
        command_shell=shlex.join(command),
    )
