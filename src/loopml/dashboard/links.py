"""Where each thing the dashboard names has its page: one place builds those addresses, so
every page links a run, a pipeline run, a dataset version, a model version or a deployment
the same way (templates get a :class:`Links` as ``links``)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["Links", "split_ref"]


def _part(text: str) -> str:
    return quote(text, safe="")


def split_ref(ref: str) -> tuple[str, str]:
    """``"name@3"`` → ``("name", "3")``; a reference without ``@`` → ``(ref, "")``."""
    name, _, version = ref.rpartition("@")
    return (name, version) if name else (ref, "")


@dataclass(frozen=True)
class Links:
    """The dashboard's addresses under ``ui`` (``/ui`` behind the app's root path)."""

    ui: str

    def run(self, run_id: str) -> str:
        return f"{self.ui}/runs/{_part(run_id)}"

    def pipeline_run(self, run_id: str) -> str:
        return f"{self.ui}/pipelines/{_part(run_id)}"

    def dataset(self, name: str) -> str:
        return f"{self.ui}/data/{_part(name)}"

    def dataset_version(self, name: str, version: int | str) -> str:
        return f"{self.ui}/data/{_part(name)}/{_part(str(version))}"

    def dataset_ref(self, ref: str) -> str:
        """A ``name@N`` reference's page (the dataset's when it names no number)."""
        name, version = split_ref(ref)
        return self.dataset_version(name, version) if version.isdigit() else self.dataset(name)

    def model(self, name: str, version: int | None = None, section: str = "") -> str:
        query = "" if version is None else f"?version={version}"
        anchor = f"#{section}" if section else ("#card" if version is not None else "")
        return f"{self.ui}/models/{_part(name)}{query}{anchor}"

    def deployment(self, deployment_id: str) -> str:
        return f"{self.ui}/deployments/{_part(deployment_id)}"

    def node(self, kind: str, node_id: str) -> str | None:
        """The page of a lineage graph's node (``run:ID``, ``dataset:NAME@N``,
        ``model:NAME@N``, ``deployment:ID``), None for one without a page (a commit)."""
        key = node_id.partition(":")[2]
        if not key:
            return None
        if kind == "pipeline":
            return self.pipeline_run(key)
        if kind in ("run", "step", "batch"):
            return self.run(key)
        if kind == "dataset":
            return self.dataset_ref(key)
        if kind == "model":
            name, version = split_ref(key)
            return self.model(name, int(version)) if version.isdigit() else self.model(name)
        if kind == "alias":
            return self.model(split_ref(key)[0])
        if kind == "deployment":
            return self.deployment(key)
        return None
