"""The five payload families a planted value can be carried in.

A carrier is one request of a family, built around ordinary content (for
GitHub Actions, Argo and Tekton a real document of the shared corpus, chosen by
the case's random source), with a few places where the shapes are planted:

- ``field(key, value)``: a named scalar (an env mapping, a step's variables, a
  parameter list: whatever the family uses for named values);
- ``env(name, value)``: an ``env: [{name, value}]`` entry (Kubernetes style);
- ``text(kind, text)``: a string holding a script, a manifest or a config file;
- ``listed(key, items)``: a list of strings under a neutral key;
- ``mapping(entries)``: entries of a string-keyed mapping (their keys are planted).

Every ordinary value a carrier writes is recorded in ``ordinary``: a benign
candidate the maskers must leave alone.
"""

from __future__ import annotations

import copy
import functools
import pathlib
import random
from typing import Any

from wfaudit.loading import parse_payload

from . import values as v

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
FAMILIES = ("devtron", "github-actions", "argo", "tekton", "generic")


class CorpusMissing(RuntimeError):
    """The shared corpus (``../shared/corpus``) is not beside the checkout."""


@functools.cache
def _documents(folder: str) -> tuple[tuple[str, Any], ...]:
    base = CORPUS / folder
    if not base.is_dir():
        raise CorpusMissing(f"no corpus at {base}: link /work/shared beside the checkout")
    found = []
    for path in sorted(base.rglob("*.y*ml")):
        try:
            payload = parse_payload(path.read_bytes(), source=path.name)
        except Exception:  # noqa: S112 - a corpus file the loader refuses is no carrier
            continue
        found.append((str(path.relative_to(CORPUS)), payload))
    return tuple(found)


def _docs(payload: Any) -> list[Any]:
    return payload if isinstance(payload, list) else [payload]


class Carrier:
    family = "generic"

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.ordinary: list[str] = []
        self.source = "generated"
        self.workflow_type = "CI"
        self.config: Any = None

    @staticmethod
    def put(target: dict[str, Any], key: str, value: Any) -> None:
        """Set ``target[key]``, under a fresh key if it is taken (nothing planted is lost)."""
        fresh, number = key, 1
        while fresh in target:
            number += 1
            fresh = f"{key}_{number}"
        target[fresh] = value

    def keep(self, value: str) -> str:
        """Record ``value`` as an ordinary value (a benign candidate) and return it."""
        self.ordinary.append(value)
        return value

    def field(self, key: str, value: str) -> None:
        raise NotImplementedError

    def env(self, name: str, value: str) -> None:
        raise NotImplementedError

    def env_ref(self, name: str, secret: str, key: str) -> None:
        raise NotImplementedError

    def text(self, kind: str, text: str) -> None:
        raise NotImplementedError

    def listed(self, key: str, items: list[str]) -> None:
        raise NotImplementedError

    def mapping(self, entries: dict[str, str]) -> None:
        raise NotImplementedError


# -- generic ---------------------------------------------------------------------------


class Generic(Carrier):
    family = "generic"

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        svc = v.service(rng)
        self.config = {
            "job": self.keep(f"{svc}-nightly"),
            "image": self.keep(
                f"registry.example.com/{svc}:{rng.randint(1, 9)}.{rng.randint(0, 30)}"
            ),
            "schedule": self.keep(f"{rng.randint(0, 59)} {rng.randint(0, 23)} * * *"),
            "env": {"LOG_LEVEL": self.keep(rng.choice(("info", "debug", "warn")))},
            "steps": [{"name": "build", "run": self.keep(f"make -C {svc} build")}],
            "containers": [{"name": svc, "image": f"{svc}:latest", "env": []}],
            "settings": {},
        }

    def field(self, key: str, value: str) -> None:
        target = self.config["env"] if self.rng.random() < 0.6 else self.config["settings"]
        self.put(target, key, value)

    def env(self, name: str, value: str) -> None:
        self.config["containers"][0]["env"].append({"name": name, "value": value})

    def env_ref(self, name: str, secret: str, key: str) -> None:
        ref = {"secretKeyRef": {"name": secret, "key": key}}
        self.config["containers"][0]["env"].append({"name": name, "valueFrom": ref})

    def text(self, kind: str, text: str) -> None:
        if kind == "script":
            self.config["steps"].append({"name": f"step-{len(self.config['steps'])}", "run": text})
        else:
            self.put(self.config.setdefault("files", {}), f"{kind}.yaml", text)

    def listed(self, key: str, items: list[str]) -> None:
        self.put(self.config.setdefault("matrix", {}), key, items)

    def mapping(self, entries: dict[str, str]) -> None:
        self.config.setdefault(self.rng.choice(("mirrors", "remotes", "hosts")), {}).update(entries)


# -- Devtron ---------------------------------------------------------------------------


class Devtron(Carrier):
    family = "devtron"

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        app = v.service(rng)
        workflow_id = rng.randint(1000, 99999)
        pipeline_id = rng.randint(1, 400)
        self.workflow_type = rng.choice(("CI", "CI", "PRE_CD", "POST_CD"))
        commit = v.commit_sha(rng)
        self.steps: list[dict[str, Any]] = [
            {
                "name": self.keep(f"{v.word(rng)}-tests"),
                "index": 1,
                "stepType": "INLINE",
                "script": self.keep(f"go test ./{v.word(rng)}/..."),
                "inputVars": [
                    {"name": "GO_VERSION", "value": self.keep(f"1.{rng.randint(20, 24)}")}
                ],
            }
        ]
        config: dict[str, Any] = {
            "workflowNamePrefix": f"{workflow_id}-ci-{pipeline_id}-{app}",
            "pipelineName": self.keep(f"ci-{pipeline_id}-{app}"),
            "pipelineId": pipeline_id,
            "workflowId": workflow_id,
            "triggeredBy": rng.randint(1, 50),
            "appName": self.keep(app),
            "namespace": self.keep(rng.choice(("devtron-ci", "devtron-cd", app))),
            "runtimeEnvironmentVariables": {"LOG_LEVEL": "info"},
            "blobStorageConfigured": True,
        }
        if self.workflow_type == "CI":
            config["ciImage"] = "quay.io/devtron/ci-runner:1290cfb6-138-21450"
            config["ciProjectDetails"] = [
                {
                    "gitRepository": self.keep(f"https://github.com/acme/{app}.git"),
                    "materialName": f"1-{app}",
                    "checkoutPath": "./",
                    "commitHash": self.keep(commit),
                    "message": self.keep(f"Fix {v.word(rng)} retries"),
                    "author": f"{rng.choice(v.PEOPLE)} <dev@example.org>",
                    "sourceType": "SOURCE_TYPE_BRANCH_FIXED",
                    "sourceValue": self.keep(rng.choice(("main", "develop", "release/2.4"))),
                    "gitOptions": {"userName": "ci-bot", "authMode": "USERNAME_PASSWORD"},
                }
            ]
            config["dockerRegistryURL"] = self.keep("docker.io")
            config["dockerRepository"] = self.keep(f"acme/{app}")
            config["dockerUsername"] = "acme-ci"
            config["preCiSteps"] = self.steps
            config["postCiSteps"] = []
        else:
            config["stageType"] = "PRE" if self.workflow_type == "PRE_CD" else "POST"
            config["cdPipelineId"] = pipeline_id
            config["workflowRunnerId"] = workflow_id + 7
            config["envName"] = self.keep(rng.choice(("production", "staging", "qa")))
            config["ciArtifactDTO"] = {"image": self.keep(f"docker.io/acme/{app}:{commit[:8]}")}
            config["prePostDeploySteps"] = self.steps
        self.config = config
        self.provider = rng.choice(("S3", "AZURE", "GCP"))
        config["cloudProvider"] = self.provider

    def field(self, key: str, value: str) -> None:
        if self.rng.random() < 0.5:
            self.put(self.config["runtimeEnvironmentVariables"], key, value)
        else:
            self.env(key, value)

    def env(self, name: str, value: str) -> None:
        self.rng.choice(self.steps)["inputVars"].append({"name": name, "value": value})

    def env_ref(self, name: str, secret: str, key: str) -> None:
        self.config["secretName"] = secret
        self.config.setdefault("secretKeyRefs", []).append(
            {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
        )

    def text(self, kind: str, text: str) -> None:
        self.steps.append(
            {"name": f"{kind}-{len(self.steps)}", "index": len(self.steps) + 1,
             "stepType": "INLINE", "script": text, "inputVars": []}
        )  # fmt: skip

    def listed(self, key: str, items: list[str]) -> None:
        self.steps.append(
            {
                "name": f"container-{len(self.steps)}",
                "index": len(self.steps) + 1,
                "stepType": "CONTAINER_IMAGE",
                "containerImage": "alpine:3.20",
                "commandArgs": [{"command": "sh", key: items}],
                "inputVars": [],
            }
        )

    def mapping(self, entries: dict[str, str]) -> None:
        self.config.setdefault("gitMirrors", {}).update(entries)

    def known_field(self, value: str) -> tuple[str, str]:
        """Put ``value`` in a field Devtron sends as a secret; returns (path, field)."""
        choices = [
            ("dockerPassword", None),
            ("blobStorageS3Config", "passkey"),
            ("azureBlobConfig", "accountKey"),
        ]
        if self.workflow_type == "CI":
            choices.append(("gitOptions", "password"))
            choices.append(("gitOptions", "accessToken"))
        top, sub = self.rng.choice(choices)
        if top == "gitOptions":
            self.config["ciProjectDetails"][0]["gitOptions"][str(sub)] = value
        elif sub is None:
            self.config[top] = value
        else:
            self.config.setdefault(top, {})[sub] = value
        return top, str(sub)

    def gcp_credential(self, value: str) -> None:
        self.config["cloudProvider"] = "GCP"
        self.config["gcpBlobConfig"] = {
            "credentialFileType": "json",
            "credentialFileData": value,
            "ciLogBucketName": self.keep(f"{v.word(self.rng)}-ci-logs"),
            "ciCacheBucketName": self.keep(f"{v.word(self.rng)}-ci-cache"),
        }


# -- GitHub Actions --------------------------------------------------------------------


def _github_workflows() -> list[tuple[str, Any]]:
    return [(n, p) for n, p in _documents("github-actions") if isinstance(p, dict) and "jobs" in p]


class GitHubActions(Carrier):
    family = "github-actions"

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        name, workflow = rng.choice(_github_workflows())
        self.source = name
        workflow = copy.deepcopy(workflow)
        self.jobs = [job for job in workflow["jobs"].values() if isinstance(job, dict)]
        self.job = rng.choice(self.jobs)
        self.job.setdefault("steps", [])
        repo = name.split("/")[0].replace("__", "/")
        self.config = {
            "workflow": workflow,
            "github": {
                "event_name": "push",
                "ref": self.keep("refs/heads/main"),
                "sha": self.keep(v.commit_sha(rng)),
                "repository": self.keep(repo),
                "run_id": str(rng.randint(10**9, 10**10)),
                "actor": self.keep(rng.choice(v.PEOPLE)),
            },
            "inputs": {},
            "env": {},
        }

    def _step(self) -> dict[str, Any]:
        step: dict[str, Any] = {"name": self.keep(f"{v.word(self.rng)} {len(self.job['steps'])}")}
        self.job["steps"].append(step)
        return step

    def field(self, key: str, value: str) -> None:
        where = self.rng.random()
        if where < 0.4:
            self.put(self._step().setdefault("env", {}), key, value)
            self.job["steps"][-1]["run"] = self.keep(f"./ci/{v.word(self.rng)}.sh")
        elif where < 0.7 and isinstance(self.job.setdefault("env", {}), dict):
            self.put(self.job["env"], key, value)
        else:
            self.put(self.config["inputs"], key, value)

    env = field

    def env_ref(self, name: str, secret: str, key: str) -> None:
        self.field(name, f"${{{{ secrets.{secret} }}}}")

    def text(self, kind: str, text: str) -> None:
        self._step()["run"] = text

    def listed(self, key: str, items: list[str]) -> None:
        strategy = self.job.setdefault("strategy", {})
        if not isinstance(strategy.get("matrix"), dict):
            strategy["matrix"] = {}
        self.put(strategy["matrix"], key, items)

    def mapping(self, entries: dict[str, str]) -> None:
        self.config["env"].update(entries)


# -- Kubernetes-shaped: Argo and Tekton ------------------------------------------------


class _Kubernetes(Carrier):
    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self.main: dict[str, Any] = {}
        self.steps: list[dict[str, Any]] = []

    def _container(self) -> dict[str, Any]:
        raise NotImplementedError

    def field(self, key: str, value: str) -> None:
        if self.rng.random() < 0.5:
            self.env(key, value)
        else:
            self.params.append({"name": key, "value": value})

    def env(self, name: str, value: str) -> None:
        self._container().setdefault("env", []).append({"name": name, "value": value})

    def env_ref(self, name: str, secret: str, key: str) -> None:
        ref = {"secretKeyRef": {"name": secret, "key": key}}
        self._container().setdefault("env", []).append({"name": name, "valueFrom": ref})

    def listed(self, key: str, items: list[str]) -> None:
        container = self._container()
        container["args"] = [*container.get("args", []), *items]

    def mapping(self, entries: dict[str, str]) -> None:
        self.main.setdefault("metadata", {}).setdefault("annotations", {}).update(entries)

    @property
    def params(self) -> list[dict[str, Any]]:
        raise NotImplementedError


class Argo(_Kubernetes):
    family = "argo"

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        candidates = [
            (n, p)
            for n, p in _documents("argo-workflows")
            if any(
                isinstance(d, dict) and d.get("kind") == "Workflow" and d.get("spec")
                for d in _docs(p)
            )
        ]
        name, payload = rng.choice(candidates)
        self.source = name
        self.config = copy.deepcopy(payload)
        self.main = next(
            d for d in _docs(self.config) if isinstance(d, dict) and d.get("kind") == "Workflow"
        )
        self.workflow_type = rng.choice(("PRE_CD", "POST_CD"))
        spec = self.main["spec"]
        spec.setdefault("templates", [])
        image = self.keep(f"ghcr.io/acme/{v.service(rng)}:{rng.randint(1, 9)}.{rng.randint(0, 9)}")
        self.template: dict[str, Any] = {
            "name": self.keep(f"{v.word(rng)}-deploy"),
            "container": {"image": image, "command": ["/bin/deploy"]},
        }
        spec["templates"].append(self.template)

    def _container(self) -> dict[str, Any]:
        container: dict[str, Any] = self.template["container"]
        return container

    @property
    def params(self) -> list[dict[str, Any]]:
        arguments = self.main["spec"].setdefault("arguments", {})
        params: list[dict[str, Any]] = arguments.setdefault("parameters", [])
        return params

    def text(self, kind: str, text: str) -> None:
        templates = self.main["spec"]["templates"]
        if kind == "manifest":
            templates.append(
                {
                    "name": f"apply-{len(templates)}",
                    "resource": {"action": "apply", "manifest": text},
                }
            )
        else:
            script = {"image": "alpine:3.20", "command": ["sh"], "source": text}
            templates.append({"name": f"script-{len(templates)}", "script": script})


class Tekton(_Kubernetes):
    family = "tekton"

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        candidates = []
        for name, payload in _documents("tekton"):
            for doc in _docs(payload):
                if isinstance(doc, dict) and _tekton_steps(doc) is not None:
                    candidates.append((name, payload))
                    break
        name, payload = rng.choice(candidates)
        self.source = name
        self.config = copy.deepcopy(payload)
        self.main = next(d for d in _docs(self.config) if _tekton_steps(d) is not None)
        steps = _tekton_steps(self.main)
        assert steps is not None
        self.steps = steps
        self.workflow_type = rng.choice(("CI", "CI", "PRE_CD", "POST_CD"))
        self.step: dict[str, Any] = {
            "name": self.keep(f"{v.word(rng)}-publish"),
            "image": self.keep(f"gcr.io/acme/{v.service(rng)}:v{rng.randint(1, 9)}"),
        }
        self.steps.append(self.step)

    def _container(self) -> dict[str, Any]:
        return self.step

    @property
    def params(self) -> list[dict[str, Any]]:
        params: list[dict[str, Any]] = self.main["spec"].setdefault("params", [])
        return params

    def text(self, kind: str, text: str) -> None:
        self.steps.append(
            {"name": f"{kind}-{len(self.steps)}", "image": "alpine:3.20", "script": text}
        )


def _tekton_steps(doc: Any) -> list[dict[str, Any]] | None:
    if not isinstance(doc, dict) or doc.get("kind") not in ("TaskRun", "PipelineRun"):
        return None
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return None
    task_spec = spec.get("taskSpec")
    if isinstance(task_spec, dict) and isinstance(task_spec.get("steps"), list):
        return task_spec["steps"]  # type: ignore[no-any-return]
    pipeline = spec.get("pipelineSpec")
    if isinstance(pipeline, dict):
        for task in pipeline.get("tasks") or []:
            inner = task.get("taskSpec") if isinstance(task, dict) else None
            if isinstance(inner, dict) and isinstance(inner.get("steps"), list):
                return inner["steps"]  # type: ignore[no-any-return]
    return None


CARRIERS: dict[str, type[Carrier]] = {
    "devtron": Devtron,
    "github-actions": GitHubActions,
    "argo": Argo,
    "tekton": Tekton,
    "generic": Generic,
}
