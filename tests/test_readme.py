"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_starts_with_the_two_commands():
    text = README.read_text()
    first_block = text.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the examples write runs/... relative to the working directory
    exec(compile(BLOCKS[index], f"README.md[python block {index}]", "exec"), {})
    out = capsys.readouterr().out
    if index == 0:
        assert "edges=300" in out
    else:
        assert (tmp_path / "runs" / "own" / "graph.npz").is_file()
        assert float(out.strip().splitlines()[-1]) > 0.2  # well above chance (0.1) after 3 epochs
