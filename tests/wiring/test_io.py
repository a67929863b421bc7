"""Tests of wiring._io: atomic writes (also under a real SIGKILL) and the TOML writer."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from wiring import _io
from wiring._io import atomic_torch_save, atomic_write_bytes, atomic_write_text, dump_toml


def _leftovers(directory: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


# ------------------------------------------------------------------------------------ atomic writes


def test_atomic_write_bytes_writes_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    atomic_write_bytes(path, b"first")
    assert path.read_bytes() == b"first"
    atomic_write_bytes(str(path), bytearray(b"second, longer"))
    assert path.read_bytes() == b"second, longer"
    assert _leftovers(tmp_path, {"f.bin"}) == []


def test_atomic_write_text_is_utf8(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    atomic_write_text(path, "ünïcode ✓\nline 2\n")
    assert path.read_bytes() == "ünïcode ✓\nline 2\n".encode()


def test_new_file_gets_the_same_permissions_as_a_plain_open(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    atomic_write_bytes(tmp_path / "atomic", b"x")
    assert (tmp_path / "atomic").stat().st_mode == plain.stat().st_mode


def test_failure_during_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    atomic_torch_save({"w": torch.arange(3)}, path)
    before = path.read_bytes()
    with pytest.raises(Exception, match=r"(?i)pickle|lambda|attribute"):
        atomic_torch_save({"w": lambda: None}, path)  # torch.save fails half-way
    assert path.read_bytes() == before
    assert _leftovers(tmp_path, {"ckpt.pt"}) == []


def test_failure_at_rename_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.txt"
    path.write_text("old")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(_io.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk gone"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert _leftovers(tmp_path, {"f.txt"}) == []


def test_missing_directory_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match="nope"):
        atomic_write_bytes(missing / "f.bin", b"x")


def test_wrong_types() -> None:
    with pytest.raises(TypeError, match="data"):
        atomic_write_bytes("x.bin", "not bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="text"):
        atomic_write_text("x.txt", b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="path"):
        atomic_write_bytes(3, b"x")  # type: ignore[arg-type]


def test_atomic_torch_save_loads_with_weights_only(tmp_path: Path) -> None:
    obj = {"a": torch.randn(4, 3), "b": [1, 2.5, "s", None], "c": {"d": torch.tensor([True])}}
    atomic_torch_save(obj, tmp_path / "o.pt")
    back = torch.load(tmp_path / "o.pt", weights_only=True)
    assert torch.equal(back["a"], obj["a"]) and back["b"] == obj["b"]
    assert torch.equal(back["c"]["d"], obj["c"]["d"])


_WRITER = textwrap.dedent(
    """
    import sys
    from wiring._io import atomic_write_bytes
    path = sys.argv[1]
    i = 0
    while True:
        i += 1
        # 8 MB per file, every byte equal to i % 256: a kill often lands in the middle of a write.
        atomic_write_bytes(path, bytes([i % 256]) * 8_000_000)
        if i == 2:
            open(path + ".ready", "w").close()
    """
)


def test_sigkill_while_writing_never_leaves_a_broken_file(tmp_path: Path) -> None:
    """A writer killed with SIGKILL at random moments leaves a complete old or new file."""
    path = tmp_path / "data.bin"
    ready = Path(str(path) + ".ready")
    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)])
        try:
            deadline = time.monotonic() + 60
            while not ready.exists():
                assert proc.poll() is None, "the writer died on its own"
                assert time.monotonic() < deadline, "the writer never got going"
                time.sleep(0.005)
            time.sleep(0.03 + 0.05 * attempt)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
        content = path.read_bytes()
        assert len(content) == 8_000_000
        assert content == content[:1] * 8_000_000
        ready.unlink()
    # A killed writer may leave its temporary file behind, but never under the real name.
    assert all(p.name.startswith(".data.bin.") for p in tmp_path.iterdir() if p.name != "data.bin")


# ---------------------------------------------------------------------------------------------- TOML


def test_dump_toml_text() -> None:
    text = dump_toml(
        {
            "seed": 3,
            "name": 'a "quoted"\tname',
            "train": {"lr": 0.1, "epochs": 4, "nesterov": False, "sizes": [1, 2]},
            "model": {"inner": {"x": -1.5e-07}},
            "key with space": 1,
        }
    )
    assert text == (
        "seed = 3\n"
        'name = "a \\"quoted\\"\\tname"\n'
        '"key with space" = 1\n'
        "\n"
        "[train]\n"
        "lr = 0.1\n"
        "epochs = 4\n"
        "nesterov = false\n"
        "sizes = [1, 2]\n"
        "\n"
        "[model]\n"
        "\n"
        "[model.inner]\n"
        "x = -1.5e-07\n"
    )


def test_dump_toml_special_values_round_trip() -> None:
    data = {
        "inf": math.inf,
        "minf": -math.inf,
        "ctrl": "\x00\x1f\x7f\b\f\r\n\\",
        "": "empty key",
        "a.b": {"c d": [[1, 2], ["x"], [], [{"k": True}]]},
        "big": 2**63 - 1,
        "small": -(2**63),
        "empty": {},
        "key\n": {"x\n": 1},  # "$" in a regex would match before the newline: must be quoted
    }
    assert tomllib.loads(dump_toml(data)) == data
    assert math.isnan(tomllib.loads(dump_toml({"n": math.nan}))["n"])


def test_dump_toml_numpy_scalars() -> None:
    import numpy as np

    text = dump_toml({"i": np.int64(3), "f": np.float32(0.5), "b": np.bool_(True)})
    assert tomllib.loads(text) == {"i": 3, "f": 0.5, "b": True}


def test_dump_toml_leaves_none_out_of_tables() -> None:
    # TOML has no null: an optional option that is None is left out, and reads back as missing.
    text = dump_toml({"seed": None, "model": {"k": 3, "step_size": None}, "x": {"y": None}})
    assert tomllib.loads(text) == {"model": {"k": 3}, "x": {}}


@pytest.mark.parametrize(
    ("mapping", "error", "match"),
    [
        ({"a": {"b": [1, None]}}, TypeError, r"a\.b\[1\].*null"),
        ({1: 2}, TypeError, "keys must be str"),
        ({"a": [object()]}, TypeError, r"a\[0\]"),
        ({"a": 2**63}, ValueError, "64-bit"),
        ([("a", 1)], TypeError, "Mapping"),
    ],
)
def test_dump_toml_errors(mapping: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        dump_toml(mapping)  # type: ignore[arg-type]


_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
_scalar = st.one_of(
    _text,
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
)
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_text, _value, max_size=6))
def test_dump_toml_round_trips_through_tomllib(mapping: dict) -> None:
    assert tomllib.loads(dump_toml(mapping)) == mapping
