"""GitHub Actions: a workflow file, bare or with the context of its run.

Two request shapes (docs/adapters/github-actions.md):

* the workflow file itself, parsed to JSON data (``on`` and ``jobs``);
* ``{"workflow": <file>, "github": {...}, "env": {...}, "vars": {...}, "inputs": {...}}``,
  the file with the expression contexts of the run, named as GitHub names them
  (``github`` holds ``event_name``, ``event``, ``ref``, ``sha``, ``run_id``,
  ``run_attempt``, ``actor``, ``repository``, ``workflow_ref`` ...). Only the
  ``workflow`` is required; a wrapper with any other key is not this format
  (a ``secrets`` context included: secrets are named by the workflow's
  ``${{ secrets.X }}`` expressions, never sent).

Secret expressions in the workflow are references, listed with their pointers.
The contexts are not scanned for them: an event payload quoting
``${{ secrets.X }}`` in a pull request's text names no secret of the run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from wfaudit_hookspecs import SecretReference, TriggerKind
from wfaudit_hookspecs.adapters.adapter import Facts, PayloadFormat
from wfaudit_hookspecs.adapters.identity import identity_value, label_value, positive_int
from wfaudit_hookspecs.adapters.walk import LEAVES, Link, is_container, link_of, path_of
from wfaudit_hookspecs.pointer import Path, to_pointer
from wfaudit_hookspecs.shapes import DiffShape, shape_nodes

__all__ = ["GITHUB_SECRET", "GitHubActionsFormat", "secret_names"]

GITHUB_SECRET = "github-secret"  # noqa: S105 - a reference kind, not a secret
"""The reference kind of a GitHub Actions secret (the name as written in the workflow)."""

_CONTEXTS = frozenset({"github", "env", "vars", "inputs"})
_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_SECRET = re.compile(
    r"\bsecrets\s*\.\s*(?P<dotted>[A-Za-z_][A-Za-z0-9_-]*)"
    r"|\bsecrets\s*\[\s*(?P<quote>['\"])(?P<indexed>[^'\"]+)(?P=quote)\s*\]"
    r"|\bgithub\s*\.\s*token\b"
)
# Every event but these two comes in as a webhook delivery.
_EVENT_KINDS = {"schedule": TriggerKind.SCHEDULE, "workflow_dispatch": TriggerKind.MANUAL}


def is_workflow(value: Any) -> bool:
    """A workflow file: ``on`` (or ``true``, from YAML 1.1 readers) and a mapping of jobs."""
    if not isinstance(value, dict) or ("on" not in value and "true" not in value):
        return False
    jobs = value.get("jobs")
    return isinstance(jobs, dict) and bool(jobs) and all(isinstance(j, dict) for j in jobs.values())


def secret_names(expression: str) -> Iterator[str]:
    """The secrets an expression's text names (``github.token`` is ``GITHUB_TOKEN``)."""
    for match in _SECRET.finditer(expression):
        yield match["dotted"] or match["indexed"] or "GITHUB_TOKEN"


class GitHubActionsFormat(PayloadFormat):
    """A GitHub Actions workflow file, bare or wrapped with its run's contexts."""

    name: ClassVar[str] = "github-actions"
    # jobs.<id> (the workflow's nodes, joined by needs), each with a list of
    # steps; the workflow bare or wrapped with its run's contexts.
    shape: ClassVar[DiffShape | None] = DiffShape(
        nodes=shape_nodes(
            [("job", [("jobs", "*")]), ("step", [("jobs", "*", "steps", "#")])],
            bases=((), ("workflow",)),
        ),
        connections=frozenset({"needs"}),
    )
    reference_syntax: ClassVar[tuple[tuple[str, str], ...]] = (
        # Expressions, evaluated by the runner: ${{ secrets.NPM_TOKEN }}, ${{ inputs.x }}.
        ("github-expression", r"\$\{\{(?P<name>[^{}]*)\}\}"),
    )
    description: ClassVar[str] = (
        "GitHub Actions workflow (on + jobs), bare or as {workflow, github, env, vars, inputs}"
    )
    workflow_id_source: ClassVar[str] = "github.run_id (with github.run_attempt)"
    pipeline_id_source: ClassVar[str] = (
        "github.workflow_ref, or github.repository with the workflow's name"
    )

    def recognise(self, config: Any) -> bool:
        if is_workflow(config):
            return True
        return (
            isinstance(config, dict)
            and is_workflow(config.get("workflow"))
            and config.keys() <= _CONTEXTS | {"workflow"}
            and all(isinstance(config.get(c, {}), dict) for c in _CONTEXTS)
        )

    def read(self, config: Any, workflow_type: str) -> Facts:
        wrapped = not is_workflow(config)
        workflow: dict[str, Any] = config["workflow"] if wrapped else config
        base: Path = ("workflow",) if wrapped else ()
        references = tuple(_references(workflow, base, self.name))
        name = label_value(workflow.get("name"))
        if not wrapped:
            return Facts(labels={"workflow": name} if name else {}, references=references)
        return _run_facts(config.get("github", {}), name, references)


def _run_facts(
    github: dict[str, Any], name: str | None, references: tuple[SecretReference, ...]
) -> Facts:
    attempt = positive_int(github.get("run_attempt")) or 1
    run = identity_value(github.get("run_id"))
    repository = label_value(github.get("repository"))
    workflow_ref = github.get("workflow_ref")
    pipeline = None
    if isinstance(workflow_ref, str):
        pipeline = identity_value(workflow_ref.partition("@")[0])
    if pipeline is None and repository:
        workflow = label_value(github.get("workflow")) or name
        pipeline = identity_value(f"{repository}/{workflow}") if workflow else None
    event = label_value(github.get("event_name"))
    kind = _EVENT_KINDS.get(event, TriggerKind.WEBHOOK) if event else None
    if attempt > 1:
        kind = TriggerKind.RETRY
    labels = {
        "repository": repository,
        "workflow": name or label_value(github.get("workflow")),
        "event": event,
        "ref": label_value(github.get("ref")),
    }
    return Facts(
        workflow_id=identity_value(f"{run}-{attempt}") if run else None,
        pipeline_id=pipeline,
        # The triggering actor re-ran the run; the actor started it first.
        triggered_by=identity_value(github.get("triggering_actor"))
        or identity_value(github.get("actor")),
        trigger_kind=kind,
        attempt=attempt if attempt > 1 else None,
        labels={key: value for key, value in labels.items() if value is not None},
        references=references,
    )


def _references(workflow: Any, base: Path, format_name: str) -> Iterator[SecretReference]:
    """The secret references of ``workflow`` (at ``base``), in document order.

    One loop over a stack (see :mod:`._walk`): containers are pushed with their
    link, and of the strings only those that may name a secret (see
    :func:`_named`), so that they are read in document order too; a pointer is
    built only for a string that names one.
    """
    seen: set[tuple[str, str]] = set()
    stack: list[tuple[Any, Link]] = [(workflow, link_of(base))]
    push = stack.append
    pop = stack.pop
    while stack:
        node, link = pop()
        if type(node) is dict or isinstance(node, dict):
            for key, value in reversed(node.items()):
                kind = type(value)
                if kind is str:
                    if key == "secrets" or "secrets" in value or "github" in value:
                        push((value, (key, link)))
                elif kind is dict or kind is list or (kind not in LEAVES and _walked(value)):
                    push((value, (key, link)))
        elif type(node) is list or isinstance(node, list):
            items = node if type(node) is list else list(node)
            index = len(items)
            for value in reversed(items):
                index -= 1
                kind = type(value)
                if kind is str:
                    if "secrets" in value or "github" in value:
                        push((value, (index, link)))
                elif kind is dict or kind is list or (kind not in LEAVES and _walked(value)):
                    push((value, (index, link)))
        elif isinstance(node, str):  # a string that may name secrets
            named = _named(link, node)
            if named:
                pointer = to_pointer(path_of(link))
                for name, rule in named:
                    if (pointer, name) not in seen:
                        seen.add((pointer, name))
                        yield SecretReference(
                            path=pointer,
                            kind=GITHUB_SECRET,
                            name=name,
                            rule=f"{format_name}.{rule}",
                        )


def _walked(value: Any) -> bool:
    # Containers (subclasses included) and string subclasses: what the walk visits.
    return is_container(value) or isinstance(value, str)


def _named(link: Link, value: str) -> list[tuple[str, str]]:
    """``(secret name, rule)`` for each secret the string at ``link`` names.

    Only a string under ``secrets`` (``inherit``) or holding ``secrets`` or
    ``github`` (every expression naming a secret does) can name one: the walk
    reads no other.
    """
    key = link[0] if link is not None else None
    if (
        key == "secrets"
        and value.strip() == "inherit"
        and link is not None
        and link[1] is not None
        and link[1][1] is not None
        and link[1][1][0] == "jobs"
    ):
        # ``jobs.<id>.secrets: inherit`` hands a reusable workflow every secret.
        return [("*", "inherit")]
    if "${{" in value:
        return [
            (name, "expression")
            for match in _EXPRESSION.finditer(value)
            for name in secret_names(match[1])
        ]
    if key == "if":
        # ``if:`` is an expression even without ``${{ }}``.
        return [(name, "expression") for name in secret_names(value)]
    return []
