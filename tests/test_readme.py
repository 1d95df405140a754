"""The README's examples are run, so they cannot rot."""

import re
from pathlib import Path

from mmbench import data

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_block(section: str) -> str:
    text = README.read_text()
    body = text.split(f"## {section}", 1)[1]
    match = re.search(r"```python\n(.*?)```", body, re.S)
    assert match, f"no python example under '{section}'"
    return match.group(1)


def test_register_your_model_example_runs(isolated_home: Path) -> None:
    namespace: dict = {}
    exec(compile(_python_block("Register your model"), "README.md", "exec"), namespace)
    record = namespace["records"][0]
    labels = data.load("shapes")["test"]["label"]
    assert record.model == "always-yes"
    assert record.n == len(labels)
    # The example always answers the last class ("yes"), so its accuracy is the share of yes.
    assert abs(record.metrics["accuracy"]["value"] - sum(labels) / len(labels)) < 1e-12


def test_readme_shows_the_ci_test_command() -> None:
    ci = (README.parent / ".ci" / "run").read_text()
    command = re.search(r"(python[0-9.]* -m )?pytest[^`\n]*", ci)
    assert command and command.group(0) in README.read_text()
