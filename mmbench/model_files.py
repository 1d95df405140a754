"""`--model-file path.py:ClassName`: register a model class from a file, no package needed."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path


class ModelFileError(ValueError):
    pass


def load_model_file(spec: str) -> str:
    """Import `path.py:ClassName`, register the class if its file did not, return its name."""
    from mmbench.models import MODELS

    path_text, sep, class_name = spec.rpartition(":")
    if not sep or not class_name or not path_text:
        raise ModelFileError(f"--model-file expects path.py:ClassName, got {spec!r}")
    path = Path(path_text)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    # A stable module name per file, so loading the same file twice reuses the module.
    module_name = "mmbench_user_model_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    module = sys.modules.get(module_name)
    if module is None:
        import_spec = importlib.util.spec_from_file_location(module_name, path)
        if import_spec is None or import_spec.loader is None:
            raise ModelFileError(f"cannot import {path}")
        module = importlib.util.module_from_spec(import_spec)
        sys.modules[module_name] = module
        import_spec.loader.exec_module(module)
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ModelFileError(f"{path} has no attribute {class_name!r}")
    name = getattr(cls, "registry_name", "") or class_name
    if name not in MODELS.names():
        MODELS.register(name, cls)
    return name
