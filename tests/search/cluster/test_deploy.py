"""Scheduler templates: valid YAML/shell, running a command the CLI's own parser accepts."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

import search.cluster
from search.cli import build_parser
from search.cluster import KINDS, Deployment, render

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def parses_as_worker(command: list[str], study: str) -> None:
    assert command[:3] == ["python", "-m", "search"]
    args = build_parser().parse_args(command[3:])
    assert args.command == "worker" and args.study == study


def test_kubernetes_templates_are_valid_yaml_running_the_worker() -> None:
    job = yaml.safe_load(render("k8s-job", Deployment("night", workers=3, image="reg/mtl:1")))
    assert job["kind"] == "Job" and job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 3
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "reg/mtl:1" and container["envFrom"][0]["secretRef"]["name"] == "mtl-search-stores"
    parses_as_worker(container["command"], "night")

    cron = yaml.safe_load(render("k8s-cronjob", Deployment("night", schedule="30 1 * * *")))
    assert cron["kind"] == "CronJob" and cron["spec"]["schedule"] == "30 1 * * *"
    parses_as_worker(cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"], "night")


def test_slurm_and_cron_render_to_valid_shell_running_the_worker(tmp_path) -> None:
    script = render("slurm", Deployment("night", workers=5))
    assert "#SBATCH --array=0-4" in script
    path = tmp_path / "job.sh"
    path.write_text(script)
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    srun = next(line for line in script.splitlines() if line.startswith("srun "))
    parses_as_worker(shlex.split(srun)[1:], "night")

    line = next(row for row in render("cron", Deployment("night")).splitlines() if not row.startswith("#"))
    fields = line.split(maxsplit=5)
    assert fields[:5] == ["0", "2", "*", "*", "*"]
    parses_as_worker(shlex.split(fields[5]), "night")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_shipped_examples_are_the_templates_rendered(kind: str) -> None:
    example = DEPLOY / f"{kind}.{KINDS[kind].rsplit('.', 1)[1]}"
    assert example.read_text() == render(kind, Deployment("nightly"))


def test_templates_are_package_data_and_deploy_templates_links_to_them() -> None:
    package_templates = Path(search.cluster.__file__).parent / "templates"
    assert sorted(p.name for p in package_templates.iterdir()) == sorted(KINDS.values())
    assert (DEPLOY / "templates").resolve() == package_templates.resolve()  # one source: a symlink in the repository
