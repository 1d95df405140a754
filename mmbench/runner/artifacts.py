"""Fitted models as artifacts in the store: `<store>/artifacts/<fit key>/`, holding the
model's own files (`model/`: safetensors weights and a JSON sidecar, as its `save` writes
them) and `manifest.json` (what was fitted on what, the label space, the fit report,
timings and environment).

An artifact is loaded only when every file in it is safetensors or JSON: anything else
(a pickle, a script) makes it untrusted and it is refused, naming the file. A model that
has no `save` and `load` is not stored: it is fitted once per run instead.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from mmbench.names import check_key
from mmbench.paths import inside, make_dir, remove_tree
from mmbench.tasks.base import Fitted

ARTIFACTS = "artifacts"
MANIFEST = "manifest.json"
MODEL_DIR = "model"
TRUSTED_SUFFIXES = (".safetensors", ".json")
MANIFEST_VERSION = "1"


class ArtifactError(ValueError):
    """A stored artifact that cannot be trusted or read; the message names the file."""


def saveable(model: Any) -> bool:
    """Whether the model can be stored and read back (`save(dir)` and `load(dir)`)."""
    return callable(getattr(model, "save", None)) and callable(getattr(model, "load", None))


class ArtifactStore:
    """The artifacts of one result store."""

    def __init__(self, store_root: Path | str) -> None:
        self.store_root = Path(store_root)
        self.root = self.store_root / ARTIFACTS

    def path(self, key: str) -> Path:
        return self.root / check_key(key, "artifact key")

    def has(self, key: str) -> bool:
        return (self.path(key) / MANIFEST).is_file()

    def manifest(self, key: str) -> dict[str, Any]:
        path = self.path(key) / MANIFEST
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ArtifactError(f"artifact manifest {path} is not readable JSON ({err})") from None
        if not isinstance(raw, dict) or raw.get("key") != key:
            raise ArtifactError(f"artifact manifest {path} is not the manifest of {key}")
        return raw

    def save(self, key: str, fitted: Fitted, identity: dict[str, Any], env: dict[str, Any]) -> Path:
        """Store `fitted` under `key`: written into a staging folder, then renamed into
        place; if another process stored the same key meanwhile, its artifact stays."""
        make_dir(self.root, self.store_root, "artifacts folder")
        final = inside(self.path(key), self.root, "artifact")
        staging = inside(self.root / f".{key}.saving-{os.getpid()}", self.root, "artifact staging folder")
        remove_tree(staging, self.root, "artifact staging folder")
        make_dir(staging, self.root, "artifact staging folder")
        try:
            fitted.model.save(staging / MODEL_DIR)
            manifest = {"key": key, "manifest_version": MANIFEST_VERSION, "identity": identity,
                        "objective": fitted.objective, "classes": fitted.classes, "extra": fitted.extra,
                        "fit_report": fitted.report, "env": env,
                        "timings": {"fit_s": fitted.fit_s, "fit_peak_mb": fitted.fit_peak_mb},
                        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str),
                                            encoding="utf-8")
            check_trusted(staging)
            try:
                os.rename(staging, final)
            except OSError:
                if not self.has(key):  # not a race lost to another process: a real failure
                    raise
        finally:
            remove_tree(staging, self.root, "artifact staging folder")
        return final

    def stored_keys(self) -> list[str]:
        """The keys of the artifacts in place (staging folders, hidden, are not)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def problem(self, key: str) -> str | None:
        """Why the artifact of `key` cannot be loaded, or None when it can."""
        try:
            check_trusted(self.path(key))
            self.manifest(key)
        except ArtifactError as err:
            return str(err)
        if not (self.path(key) / MODEL_DIR).is_dir():
            return f"artifact {self.path(key)} has no {MODEL_DIR}/ folder"
        return None

    def load(self, key: str, model: Any) -> Fitted:
        """`model` (freshly constructed with the artifact's config) with the stored weights."""
        folder = self.path(key)
        check_trusted(folder)
        manifest = self.manifest(key)
        timings = manifest.get("timings") or {}
        model.load(folder / MODEL_DIR)
        return Fitted(model, manifest.get("objective"), list(manifest.get("classes") or []),
                      dict(manifest.get("extra") or {}), dict(manifest.get("fit_report") or {}),
                      fit_s=float(timings.get("fit_s", 0.0)), fit_peak_mb=float(timings.get("fit_peak_mb", 0.0)),
                      loaded=True)


def check_trusted(folder: Path) -> None:
    """ArtifactError naming the first file that is neither safetensors nor JSON, or a link."""
    for here, dirs, files in os.walk(folder):
        for name in sorted(dirs + files):
            path = Path(here) / name
            if path.is_symlink():
                raise ArtifactError(f"artifact {folder} holds a symlink, {path}: refused")
            if name in files and not name.endswith(TRUSTED_SUFFIXES):
                raise ArtifactError(f"artifact {folder} holds {path}, which is neither safetensors nor "
                                    f"JSON: refused (only those are ever loaded); move the artifact "
                                    f"aside to fit the model again")
