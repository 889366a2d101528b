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


@pytest.mark.usefixtures("kernel")
def test_readme_demo_command_from_a_clean_clone(tmp_path: pathlib.Path) -> None:
    """The README's first command, run as written in a fresh clone of the repo."""
    import os
    import shutil
    import subprocess

    from support import skip_or_fail

    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        skip_or_fail("not a git checkout: cannot clone")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    res = subprocess.run(
        ["scripts/demo"], cwd=clone, capture_output=True, text=True, env=env, timeout=600
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "all 4 maps the demo made are gone" in res.stdout
