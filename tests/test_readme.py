"""The README's code runs on the real kernel, and its commands exist."""

from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_starts_with_the_two_commands() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["scripts/demo", "scripts/test"]
    for c in commands:
        assert (ROOT / c).stat().st_mode & 0o111, f"{c} is not executable"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/test" in ci and "CI=true" in ci


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize("index", range(len(re.findall(r"```python\n", README))))
def test_readme_python_blocks_run(
    index: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    block = re.findall(r"```python\n(.*?)```", README, re.S)[index]
    exec(compile(block, f"README.md python block {index}", "exec"), {})
    out = capsys.readouterr().out
    assert out.strip(), "the example printed nothing"
