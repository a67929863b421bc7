"""Tests of wiring.data: the offline datasets, their normalisation and split, and the loaders."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from wiring import data as wdata
from wiring.data import Dataset, cifar10, digits, load_dataset, mnist1d

# ------------------------------------------------------------------------------------------- Dataset


def _toy(n_train: int = 10, n_test: int = 4) -> Dataset:
    g = torch.Generator().manual_seed(0)
    return Dataset(
        "toy",
        torch.randn(n_train, 2, 3, generator=g),
        torch.arange(n_train) % 3,
        torch.randn(n_test, 2, 3, generator=g),
        torch.arange(n_test) % 3,
        num_classes=3,
    )


def test_dataset_properties() -> None:
    data = _toy()
    assert data.in_channels == 2
    assert data.spatial_dims == 1
    assert tuple(data.input_shape) == (2, 3)
    assert repr(data) == "Dataset('toy', train=(10, 2, 3), test=(4, 2, 3), num_classes=3)"


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"x_train": np.zeros((10, 2, 3))}, TypeError, "x_train"),
        ({"x_train": torch.zeros(10, 2, 3, dtype=torch.float64)}, TypeError, "x_train.*float32"),
        ({"y_test": torch.zeros(4, dtype=torch.int32)}, TypeError, "y_test.*int64"),
        ({"y_train": torch.zeros(9, dtype=torch.int64)}, ValueError, "y_train"),
        ({"y_train": torch.full((10,), 3)}, ValueError, r"y_train.*\[0, 3\)"),
        ({"x_test": torch.zeros(4, 2, 5)}, ValueError, "x_test"),
        ({"x_train": torch.zeros(10)}, ValueError, "x_train"),
        ({"num_classes": 0}, ValueError, "num_classes"),
    ],
)
def test_dataset_validation(change: dict, error: type[Exception], match: str) -> None:
    toy = _toy()
    fields = {
        "name": "toy",
        "x_train": toy.x_train,
        "y_train": toy.y_train,
        "x_test": toy.x_test,
        "y_test": toy.y_test,
        "num_classes": 3,
    }
    fields.update(change)
    with pytest.raises(error, match=match):
        Dataset(**fields)


def test_loaders_seeded_shuffle_and_unshuffled_test() -> None:
    data = _toy(n_train=50, n_test=7)

    def order(seed: int) -> list[int]:
        train, _ = data.loaders(8, seed=seed)
        # Each x row is unique: find the position of every yielded example in x_train.
        rows = torch.cat([x for x, _ in train])
        return [int((data.x_train == row).all(dim=(1, 2)).nonzero()) for row in rows]

    first = order(0)
    assert sorted(first) == list(range(50))  # a permutation: every example exactly once
    assert first != list(range(50))
    assert order(0) == first
    assert order(1) != first

    _, test = data.loaders(3, seed=0)
    assert torch.equal(torch.cat([y for _, y in test]), data.y_test)
    assert [len(y) for _, y in test] == [3, 3, 1]
    unshuffled, _ = data.loaders(8, shuffle=False)
    assert torch.equal(torch.cat([x for x, _ in unshuffled]), data.x_train)
    with pytest.raises(ValueError, match="batch_size"):
        data.loaders(0)


# -------------------------------------------------------------------------------------------- digits


def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return np.asarray(bunch.images, dtype=np.float64), np.asarray(bunch.target)


def test_digits_shapes_split_and_standardisation() -> None:
    data = digits()
    assert data.x_train.shape == (1347, 1, 8, 8) and data.x_test.shape == (450, 1, 8, 8)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert data.num_classes == 10 and data.spatial_dims == 2

    # Undo the affine map without knowing it: the smallest standardised value is pixel 0 and the
    # largest is pixel 16 (both occur in any split). The recovered pixels must be whole numbers
    # and train + test must be exactly the bundled dataset.
    x_train = data.x_train.double().numpy()
    x_test = data.x_test.double().numpy()
    lo, hi = x_train.min(), x_train.max()
    pix_train = (x_train - lo) / (hi - lo) * 16
    pix_test = (x_test - lo) / (hi - lo) * 16
    assert np.abs(pix_train - pix_train.round()).max() < 1e-3
    assert np.abs(pix_test - pix_test.round()).max() < 1e-3
    images, labels = _raw_digits()
    ours = np.concatenate([pix_train.round(), pix_test.round()]).reshape(-1, 64)
    ours_labels = np.concatenate([data.y_train.numpy(), data.y_test.numpy()])
    key = lambda rows, lab: sorted(map(tuple, np.column_stack([rows, lab]).tolist()))  # noqa: E731
    assert key(ours, ours_labels) == key(images.reshape(-1, 64), labels)

    # Standardised with the *training* statistics of the [0, 1]-scaled pixels.
    scaled = pix_train.round() / 16
    mean, std = scaled.mean(), scaled.std()
    np.testing.assert_allclose(x_train, (scaled - mean) / std, atol=1e-5)
    np.testing.assert_allclose(x_test, (pix_test.round() / 16 - mean) / std, atol=1e-5)


def test_digits_split_is_stratified_and_seeded() -> None:
    a, b, c = digits(seed=0), digits(seed=0), digits(seed=1)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.y_test, c.y_test)
    _, labels = _raw_digits()
    per_class = np.bincount(labels)
    in_test = np.bincount(a.y_test.numpy(), minlength=10)
    assert np.all(np.abs(in_test - 0.25 * per_class) <= 1)
    small = digits(test_fraction=0.1)
    assert small.x_test.shape[0] == 180


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"test_fraction": 0.0}, ValueError, "test_fraction"),
        ({"test_fraction": 1.5}, ValueError, "test_fraction"),
        ({"test_fraction": "a"}, TypeError, "test_fraction"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 1.5}, TypeError, "seed"),
    ],
)
def test_digits_bad_arguments(kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        digits(**kwargs)


# ------------------------------------------------------------------------------------------ MNIST-1D


def test_mnist1d_matches_the_package_and_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mnist1d.data import get_dataset_args, make_dataset

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    cache = tmp_path / "cache"
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002

    data = mnist1d(cache_dir=cache)

    # The caller's global random states are untouched by the package's set_seed.
    after = np.random.get_state()  # noqa: NPY002
    assert np.array_equal(after[1], np_state[1]) and after[2] == np_state[2]
    assert random.getstate() == py_state
    assert data.x_train.shape == (4000, 1, 40) and data.x_test.shape == (1000, 1, 40)
    assert data.num_classes == 10

    raw = make_dataset(get_dataset_args())
    mean, std = raw["x"].mean(), raw["x"].std()
    np.testing.assert_allclose(data.x_train[:, 0].numpy(), (raw["x"] - mean) / std, atol=1e-5)
    np.testing.assert_allclose(data.x_test[:, 0].numpy(), (raw["x_test"] - mean) / std, atol=1e-5)
    assert np.array_equal(data.y_train.numpy(), raw["y"])
    assert np.array_equal(data.y_test.numpy(), raw["y_test"])

    # Nothing in the working directory; one .npz in the cache, read back without generating.
    assert list(cwd.iterdir()) == []
    (cached,) = cache.iterdir()
    assert cached.suffix == ".npz"
    with np.load(cached, allow_pickle=False) as stored:
        assert sorted(stored.files) == ["x", "x_test", "y", "y_test"]

    def no_generation(seed: int) -> None:
        raise AssertionError("generated again although the cache exists")

    monkeypatch.setattr(wdata, "_generate_mnist1d", no_generation)
    again = mnist1d(cache_dir=cache)
    assert torch.equal(again.x_train, data.x_train) and torch.equal(again.y_test, data.y_test)


def test_mnist1d_default_cache_dir_and_corrupt_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls = []
    real = wdata._generate_mnist1d

    def counting(seed: int) -> dict:
        calls.append(seed)
        return real(seed)

    monkeypatch.setattr(wdata, "_generate_mnist1d", counting)
    first = mnist1d(seed=1)
    (cached,) = (tmp_path / "neural-wiring").iterdir()
    assert calls == [43]  # the package's seed 42, offset by 1: another realisation
    cached.write_bytes(b"not an npz file")
    second = mnist1d(seed=1)
    assert calls == [43, 43]  # a broken cache is regenerated, not trusted
    assert torch.equal(first.x_train, second.x_train)
    with np.load(cached, allow_pickle=False) as stored:
        assert stored["x"].shape == (4000, 40)


def test_mnist1d_without_cache_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(
        wdata,
        "_generate_mnist1d",
        lambda seed: {
            "x": np.arange(80.0).reshape(2, 40),
            "y": np.array([0, 1]),
            "x_test": np.ones((1, 40)),
            "y_test": np.array([9]),
        },
    )
    data = mnist1d(cache=False)
    assert not (tmp_path / "xdg").exists()
    # Train statistics of 0..79: mean 39.5, population std sqrt((80**2 - 1) / 12).
    std = np.sqrt((80**2 - 1) / 12)
    np.testing.assert_allclose(
        data.x_test.numpy(), np.full((1, 1, 40), (1 - 39.5) / std), rtol=1e-6
    )


# ------------------------------------------------------------------------------------------ CIFAR-10

_MEAN = (0.4914, 0.4822, 0.4465)
_STD = (0.2470, 0.2435, 0.2616)


def _write_cifar(directory: Path, sizes: dict[str, int], seed: int = 0) -> dict[str, bytes]:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = {}
    for name, n in sizes.items():
        records = bytearray()
        for _ in range(n):
            records.append(int(rng.integers(0, 10)))
            records.extend(rng.integers(0, 256, size=3072, dtype=np.uint8).tobytes())
        (directory / name).write_bytes(bytes(records))
        written[name] = bytes(records)
    return written


_SIZES = {**{f"data_batch_{i}.bin": i for i in range(1, 6)}, "test_batch.bin": 10}


def _expected(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Decode records by the documented layout: label, then R, G, B planes of 32 rows of 32."""
    n = len(blob) // 3073
    labels = np.array([blob[r * 3073] for r in range(n)])
    pixels = np.zeros((n, 3, 32, 32))
    for r in range(n):
        for c in range(3):
            for h in range(32):
                start = r * 3073 + 1 + c * 1024 + h * 32
                pixels[r, c, h] = list(blob[start : start + 32])
    return pixels, labels


@pytest.mark.parametrize("nested", [False, True])
def test_cifar10_reads_the_binary_format(tmp_path: Path, nested: bool) -> None:
    folder = tmp_path / "cifar-10-batches-bin" if nested else tmp_path
    written = _write_cifar(folder, _SIZES)
    data = cifar10(tmp_path, normalize=False)
    assert data.x_train.shape == (15, 3, 32, 32) and data.x_test.shape == (10, 3, 32, 32)
    train_px, train_lab = zip(
        *(_expected(written[f"data_batch_{i}.bin"]) for i in range(1, 6)), strict=True
    )
    test_px, test_lab = _expected(written["test_batch.bin"])
    np.testing.assert_allclose(data.x_train.numpy(), np.concatenate(train_px) / 255, rtol=1e-6)
    np.testing.assert_allclose(data.x_test.numpy(), test_px / 255, rtol=1e-6)
    assert data.y_train.tolist() == np.concatenate(train_lab).tolist()
    assert data.y_test.tolist() == test_lab.tolist()

    normed = cifar10(str(tmp_path))
    mean = np.array(_MEAN).reshape(1, 3, 1, 1)
    std = np.array(_STD).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(normed.x_test.numpy(), (test_px / 255 - mean) / std, atol=1e-5)
    # A hand-picked pixel: record 3 of the test file, green plane, row 5, column 7.
    byte = written["test_batch.bin"][3 * 3073 + 1 + 1024 + 5 * 32 + 7]
    assert normed.x_test[3, 1, 5, 7].item() == pytest.approx(
        (byte / 255 - 0.4822) / 0.2435, abs=1e-5
    )


def test_cifar10_missing_directory_names_the_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        cifar10(tmp_path / "nowhere")
    message = str(info.value)
    assert "nowhere" in message and "does not exist" in message
    for name in [*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin"]:
        assert name in message


def test_cifar10_missing_file_is_named(tmp_path: Path) -> None:
    _write_cifar(tmp_path, {k: v for k, v in _SIZES.items() if k != "data_batch_3.bin"})
    with pytest.raises(FileNotFoundError, match=r"lacks data_batch_3\.bin"):
        cifar10(tmp_path)


def test_cifar10_malformed_files(tmp_path: Path) -> None:
    _write_cifar(tmp_path, _SIZES)
    (tmp_path / "data_batch_2.bin").write_bytes(b"\x00" * 3074)
    with pytest.raises(ValueError, match=r"data_batch_2\.bin.*3074 bytes.*3073"):
        cifar10(tmp_path)
    (tmp_path / "data_batch_2.bin").write_bytes(b"\x0c" + b"\x00" * 3072)  # label 12
    with pytest.raises(ValueError, match="label 12"):
        cifar10(tmp_path)


# ---------------------------------------------------------------------------------------- registry


def test_load_dataset(tmp_path: Path) -> None:
    data = load_dataset("digits", seed=3)
    assert torch.equal(data.y_test, digits(seed=3).y_test)
    with pytest.raises(ValueError, match="'cifar10', 'digits', 'mnist1d'"):
        load_dataset("imagenet")
    with pytest.raises(FileNotFoundError, match=r"data_batch_1\.bin"):
        load_dataset("cifar10", root=tmp_path / "not-here")
