"""The diff shapes the CI adapters declare: GitHub jobs and steps, Tekton tasks,
Devtron stage steps, counted by the engine's summary in the format's words."""

from __future__ import annotations

import copy
import itertools
import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

import wfaudit_ci.plugin as ci_plugin
from wfaudit import NodeChanges, diff_configs, load_payload, summarize
from wfaudit_ci import GitHubActionsFormat
from wfaudit_hookspecs import DiffShape
from wfaudit_hookspecs.adapters import DevtronFormat, TektonFormat

SHARED = pathlib.Path(__file__).resolve().parents[4] / "shared" / "corpus"
HISTORY = SHARED / "history"
SERIES = sorted(p for p in HISTORY.iterdir() if p.is_dir()) if HISTORY.is_dir() else []
GITHUB = GitHubActionsFormat.shape
TEKTON = TektonFormat.shape


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _versions(series: pathlib.Path) -> list[Any]:
    return [load_payload(str(path)) for path in sorted(series.glob("*.yml"))]


def _pairs(series: pathlib.Path) -> Iterator[tuple[Any, Any]]:
    yield from itertools.pairwise(_versions(series))


def test_the_plugin_declares_a_shape_with_each_format() -> None:
    shapes: dict[str, Any] = {}

    def register(name: str, *_args: Any, shape: DiffShape | None = None) -> None:
        shapes[name] = shape

    ci_plugin.wfaudit_payload_formats(register=register)
    assert shapes == {"devtron": DevtronFormat.shape, "github-actions": GITHUB, "tekton": TEKTON}
    for shape in shapes.values():
        assert isinstance(shape, DiffShape)
        assert shape.nodes and all(kind and pattern for kind, pattern in shape.nodes)


@pytest.mark.skipif(not SERIES, reason="../shared/corpus/history is not there")
def test_a_github_job_added_or_removed_is_a_job() -> None:
    """numpy's linux.yml, versions 001 and 002: the job aarch64_test appears."""
    old, new = _versions(HISTORY / "numpy__numpy__linux.yml")[1:3]
    changes = diff_configs(old, new)
    assert [(c.op, c.path) for c in changes] == [("added", "/jobs/aarch64_test")]
    shaped = summarize(changes, GITHUB)
    assert shaped.words() == "1 job added"
    assert shaped.nodes == (NodeChanges(kind="job", added=1),)
    assert (shaped.steps_added, shaped.settings_changed) == (1, False)
    assert summarize(diff_configs(new, old), GITHUB).words() == "1 job removed"
    # Wrapped with the run's contexts, the workflow is under /workflow.
    wrapped = diff_configs({"workflow": old}, {"workflow": new, "github": {"run_id": 2}})
    assert summarize(wrapped, GITHUB).words() == "1 job added, settings"
    # Without a shape: the generic rules.
    assert summarize(changes).words() == "settings"


def _without_steps(job: Any) -> str:
    return _json({key: value for key, value in job.items() if key != "steps"})


@pytest.mark.skipif(not SERIES, reason="../shared/corpus/history is not there")
def test_jobs_of_the_corpus_history_are_counted_as_the_files_say() -> None:
    """Every pair of every series: jobs added, removed and modified (their own
    keys, steps aside) as the two files' jobs mappings say; steps as the generic
    rules count them; ``settings`` only for a change outside the jobs."""
    told_apart = 0
    for series in SERIES:
        for number, (old, new) in enumerate(_pairs(series), 2):
            where = f"{series.name} -> {number:03d}"
            changes = diff_configs(old, new)
            shaped, generic = summarize(changes, GITHUB), summarize(changes)
            kinds = {n.kind: n for n in shaped.nodes}
            job = kinds.get("job", NodeChanges(kind="job"))
            before, after = old["jobs"], new["jobs"]
            shared = before.keys() & after.keys()
            assert (job.added, job.removed, job.modified, job.moved) == (
                len(after.keys() - before.keys()),
                len(before.keys() - after.keys()),
                sum(_without_steps(before[j]) != _without_steps(after[j]) for j in shared),
                0,
            ), where
            step = kinds.get("step", NodeChanges(kind="step"))
            assert (step.added, step.removed, step.modified, step.moved) == (
                generic.steps_added,
                generic.steps_removed,
                generic.steps_modified,
                generic.steps_moved,
            ), where
            outside = [_json({k: v for k, v in doc.items() if k != "jobs"}) for doc in (old, new)]
            if outside[0] == outside[1]:
                assert not shaped.settings_changed, where
            told_apart += generic.words() != shaped.words()
            assert shaped.steps_added == job.added + step.added
    assert told_apart >= 10


def _corpus_file(name: str) -> Any:
    return load_payload(str(SHARED / name))


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/corpus is not there")
def test_tekton_tasks_finally_tasks_and_steps_are_nodes() -> None:
    """A multi-document PipelineRun: its Tasks (documents 0 and 1), its Pipeline (2)."""
    old = _corpus_file("tekton/pipelineruns__pipelinerun-with-final-tasks.yaml")
    new = copy.deepcopy(old)
    pipeline = new[2]["spec"]
    pipeline["finally"].append({"name": "notify", "taskRef": {"name": "notify"}})
    pipeline["finally"][0]["runAfter"] = ["clone-app-repo"]
    new[0]["spec"]["steps"].append(
        {"name": "list", "image": "mirror.gcr.io/ubuntu", "script": "ls"}
    )
    changes = diff_configs(old, new)
    shaped = summarize(changes, TEKTON)
    assert shaped.words() == "1 task added, 1 task modified, 1 step added, dependencies"
    # The same objects in a v1 List.
    listed = [{"apiVersion": "v1", "kind": "List", "items": doc} for doc in (old, new)]
    assert summarize(diff_configs(*listed), TEKTON).words() == shaped.words()
    # A Task added as a document: its steps are added.
    task = copy.deepcopy(old[1])
    task["metadata"]["name"] = "another"
    assert summarize(diff_configs(old, [*old, task]), TEKTON).words() == (
        f"{len(task['spec']['steps'])} step{'s' if len(task['spec']['steps']) > 1 else ''} added"
    )
    # A PipelineRun's own pipelineSpec and its embedded taskSpec steps.
    inline = _corpus_file("tekton/pipelineruns__pipelinerun-with-pipelinespec-and-taskspec.yaml")
    edited = copy.deepcopy(inline)
    edited[0]["spec"]["pipelineSpec"]["tasks"][0]["taskSpec"]["steps"][0]["image"] = "alpine"
    assert summarize(diff_configs(inline, edited), TEKTON).words() == "1 step modified, image"


def test_devtron_stage_steps_are_steps() -> None:
    old = {"workflowId": 1, "preCiSteps": [{"name": "lint", "index": 1}], "ciImage": "ci:1"}
    new = {
        "workflowId": 1,
        "preCiSteps": [{"name": "lint", "index": 1}, {"name": "test", "index": 2}],
        "ciImage": "ci:2",
    }
    changes = diff_configs(old, new)
    assert summarize(changes, DevtronFormat.shape).words() == "1 step added, image"
