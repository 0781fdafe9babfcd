"""The diff shapes the CD adapters declare: Argo templates, DAG tasks and steps."""

from __future__ import annotations

import copy
import pathlib
from typing import Any

import pytest

import wfaudit_cd.plugin as cd_plugin
from wfaudit import diff_configs, load_payload, summarize
from wfaudit_cd import ArgoFormat
from wfaudit_hookspecs import DiffShape
from wfaudit_hookspecs.adapters import DevtronFormat, TektonFormat

CORPUS = pathlib.Path(__file__).resolve().parents[4] / "shared" / "corpus"
ARGO = ArgoFormat.shape


def test_the_plugin_declares_a_shape_with_each_format() -> None:
    shapes: dict[str, Any] = {}

    def register(name: str, *_args: Any, shape: DiffShape | None = None) -> None:
        shapes[name] = shape

    cd_plugin.wfaudit_payload_formats(register=register)
    assert shapes == {"devtron": DevtronFormat.shape, "argo": ARGO, "tekton": TektonFormat.shape}
    assert isinstance(ARGO, DiffShape) and ARGO.documents


def _corpus_file(name: str) -> Any:
    return load_payload(str(CORPUS / name))


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not there")
def test_argo_templates_dag_tasks_and_steps_are_nodes() -> None:
    old = _corpus_file("argo-workflows/dag-diamond.yaml")
    new = copy.deepcopy(old)
    tasks = new["spec"]["templates"][0]["dag"]["tasks"]
    tasks.append({"name": "E", "depends": "D", "template": "echo"})
    tasks[3]["depends"] = "B || C"
    new["spec"]["templates"][1]["container"]["image"] = "alpine"
    changes = diff_configs(old, new)
    shaped = summarize(changes, ARGO)
    assert (
        shaped.words() == "1 template modified, 1 task added, 1 task modified, dependencies, image"
    )
    # The generic rules see the templates list only.
    assert summarize(changes).words() == "2 steps modified, dependencies, image"
    # The same workflow as a CronWorkflow's workflowSpec.
    cron = [
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "CronWorkflow",
            "spec": {"workflowSpec": doc["spec"]},
        }
        for doc in (old, new)
    ]
    assert summarize(diff_configs(*cron), ARGO).words() == shaped.words()

    steps = _corpus_file("argo-workflows/steps.yaml")
    grown = copy.deepcopy(steps)
    groups = grown["spec"]["templates"][0]["steps"]
    groups.append(
        [
            {"name": "bye1", "template": "print-message"},
            {"name": "bye2", "template": "print-message"},
        ]
    )
    groups[0].append({"name": "hello1b", "template": "print-message"})
    # A step in a group of parallel steps, and a new group of two.
    assert summarize(diff_configs(steps, grown), ARGO).words() == "3 steps added"
