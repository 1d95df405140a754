import sys
import textwrap
from pathlib import Path

import pytest

from mmbench.registry import Registry, RegistryError


def test_decorator_and_lookup() -> None:
    reg: Registry[type] = Registry("widget")

    @reg.register("alpha")
    class Alpha:
        pass

    assert reg.get("alpha") is Alpha
    assert "alpha" in reg
    assert reg.names() == ["alpha"]


def test_duplicate_name_is_an_error() -> None:
    reg: Registry[int] = Registry("widget")
    reg.register("alpha", 1)
    with pytest.raises(RegistryError, match="'alpha' is already registered"):
        reg.register("alpha", 2)


def test_unregister_forgets_a_name() -> None:
    reg: Registry[int] = Registry("widget")
    reg.register("alpha", 1)
    reg.register_lazy("beta", "json:dumps")
    reg.unregister("alpha")
    reg.unregister("beta")
    assert reg.names() == []
    reg.register("alpha", 2)  # free again
    with pytest.raises(RegistryError, match="unknown widget 'gamma'"):
        reg.unregister("gamma")


def test_unknown_name_suggests_close_matches() -> None:
    reg: Registry[int] = Registry("model")
    reg.register("concat-fusion", 1)
    reg.register("text-only", 2)
    with pytest.raises(RegistryError, match="Did you mean 'concat-fusion'"):
        reg.get("concat-fuson")


def test_lazy_target_is_imported_only_on_lookup(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "lazy_widget_mod.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: Registry[int] = Registry("widget")
    reg.register_lazy("answer", "lazy_widget_mod:VALUE")
    assert "lazy_widget_mod" not in sys.modules
    assert reg.names() == ["answer"]
    assert reg.get("answer") == 42


def test_a_user_object_cannot_take_a_builtin_lazy_name() -> None:
    reg: Registry[object] = Registry("widget")
    reg.register_lazy("builtin", "some.module:Thing")

    class Impostor:
        pass

    with pytest.raises(RegistryError, match="already registered"):
        reg.register("builtin", Impostor)


def test_entry_points_are_discovered(tmp_path: Path, monkeypatch) -> None:
    """A real installed distribution (a .dist-info on sys.path) declaring the group."""
    (tmp_path / "mmbench_plugin_demo.py").write_text("class DemoModel:\n    pass\n")
    dist = tmp_path / "mmbench_plugin_demo-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mmbench-plugin-demo\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent("""
        [mmbench.models]
        demo-model = mmbench_plugin_demo:DemoModel
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: Registry[type] = Registry("model", "mmbench.models")
    assert "demo-model" in reg.names()
    assert reg.get("demo-model").__name__ == "DemoModel"


def test_a_registered_name_is_found_without_scanning_entry_points(tmp_path: Path, monkeypatch) -> None:
    """A plugin with a bad name breaks the scan (every lookup that needs it says why), but
    not the lookup of a name registered before it: that needs no scan."""
    (tmp_path / "mmbench_plugin_bad.py").write_text("class Bad:\n    pass\n")
    dist = tmp_path / "mmbench_plugin_bad-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mmbench-plugin-bad\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[mmbench.demo]\nBad Name = mmbench_plugin_bad:Bad\n")
    (tmp_path / "mmbench_builtin_demo.py").write_text("class Builtin:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: Registry[type] = Registry("model", "mmbench.demo", names_are_paths=True)
    reg.register_lazy("builtin", "mmbench_builtin_demo:Builtin")
    assert reg.get("builtin").__name__ == "Builtin" and "builtin" in reg
    with pytest.raises(RegistryError, match="entry point Bad Name"):
        reg.get("other")


def test_builtin_registries_list_their_names() -> None:
    from mmbench.adapters import ADAPTERS
    from mmbench.models import MODELS
    from mmbench.tasks import TASKS

    assert {"shapes", "coco-captions", "hateful-memes"} <= set(ADAPTERS.names())
    assert {"majority", "image-only", "text-only", "concat-fusion"} <= set(MODELS.names())
    assert "classification" in TASKS.names()
