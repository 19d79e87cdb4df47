"""Dataset providers, the decoded-tensor cache and the common [dataset] options."""

from __future__ import annotations

import fnmatch
import gzip
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rcx.api import cache_dir, channel_stats, load_tensors, resize_uint8, save_tensors
from rcx.api.dataset import DatasetError, ImageDataset
from rcx.core.data_prep import COMMON_OPTIONS, prepare, stratified_indices
from rcx.data import imagefolder
from rcx.data.imagefolder import ImageFolderProvider
from rcx.data.synthetic import CLASSES, SyntheticProvider
from rcx.data.torchvision_sets import TORCHVISION_PROVIDERS, MNISTProvider

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CIFAR_ZIP = SHARED_DATA / "cifar10-jpeg.zip"
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def synthetic(**opts) -> ImageDataset:
    return SyntheticProvider().load({"n_train": 50, "n_test": 20} | opts, cache_dir())


# --- cache -------------------------------------------------------------------------------


def test_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("RCX_CACHE_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "a" and cache_dir().is_dir()
    monkeypatch.delenv("RCX_CACHE_DIR")
    assert cache_dir() == tmp_path / "xdg" / "rcx"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "rcx"


def test_save_load_tensors_roundtrip(tmp_path):
    data = {"x": torch.arange(24, dtype=torch.uint8).view(2, 3, 2, 2), "classes": ["a", "b"], "mean": [0.5]}
    path = tmp_path / "sub" / "d.pt"
    save_tensors(path, data)
    back = load_tensors(path)
    assert torch.equal(back["x"], data["x"]) and back["classes"] == ["a", "b"] and back["mean"] == [0.5]
    assert [p.name for p in path.parent.iterdir()] == ["d.pt"]  # no temp file left behind
    assert load_tensors(tmp_path / "missing.pt") is None
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    assert load_tensors(tmp_path / "bad.pt") is None


# --- synthetic ---------------------------------------------------------------------------


def test_synthetic_deterministic():
    a, b, c = synthetic(), synthetic(), synthetic(seed=1)
    for f in ("train_x", "train_y", "test_x", "test_y"):
        assert torch.equal(getattr(a, f), getattr(b, f))
    assert not torch.equal(a.train_x, c.train_x)
    assert not torch.equal(a.train_x[:20], a.test_x)  # splits are drawn separately


def test_synthetic_shapes_and_balance():
    ds = synthetic(n_train=100, n_test=30)
    assert ds.train_x.shape == (100, 3, 32, 32) and ds.train_x.dtype == torch.uint8
    assert ds.test_x.shape == (30, 3, 32, 32)
    assert ds.train_y.dtype == torch.int64 and ds.shape == (3, 32, 32)
    assert ds.classes == CLASSES and ds.num_classes == 10 and len(set(CLASSES)) == 10
    assert torch.bincount(ds.train_y, minlength=10).tolist() == [10] * 10
    assert torch.bincount(ds.test_y, minlength=10).tolist() == [3] * 10
    assert torch.bincount(ds.train_y[:20], minlength=10).tolist() == [2] * 10  # prefixes are balanced
    assert len(ds.mean) == len(ds.std) == 3 and all(0 < m < 1 for m in ds.mean) and all(0 < s < 1 for s in ds.std)
    assert int(ds.train_x.min()) < 40 and int(ds.train_x.max()) > 215  # uses the pixel range


def test_synthetic_image_size_and_noise():
    ds = synthetic(image_size=20)
    assert ds.train_x.shape == (50, 3, 20, 20)
    clean, noisy = synthetic(noise=0.0), synthetic(noise=0.5)
    assert torch.equal(clean.train_y, noisy.train_y) and not torch.equal(clean.train_x, noisy.train_x)


def test_synthetic_random_conv_features_beat_chance():
    sk = pytest.importorskip("sklearn.linear_model")
    from sklearn.preprocessing import StandardScaler

    ds = synthetic(n_train=300, n_test=300)
    mean, std = torch.tensor(ds.mean).view(1, 3, 1, 1), torch.tensor(ds.std).view(1, 3, 1, 1)
    xtr, xte = ((x.float() / 255 - mean) / std for x in (ds.train_x, ds.test_x))

    def accuracy(ftr: torch.Tensor, fte: torch.Tensor) -> float:
        scaler = StandardScaler().fit(ftr.numpy())
        clf = sk.RidgeClassifier(alpha=1.0).fit(scaler.transform(ftr.numpy()), ds.train_y.numpy())
        return clf.score(scaler.transform(fte.numpy()), ds.test_y.numpy())

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 5), torch.nn.ReLU(), torch.nn.Conv2d(32, 32, 3, stride=2), torch.nn.ReLU(),
        torch.nn.Conv2d(32, 32, 3), torch.nn.ReLU())
    with torch.no_grad():
        conv = accuracy(net(xtr).flatten(1), net(xte).flatten(1))
    raw = accuracy(xtr.flatten(1), xte.flatten(1))
    assert conv > 0.25, conv  # chance is 0.10
    assert conv > raw + 0.03, (conv, raw)


# --- imagefolder: real CIFAR-10 JPEGs ----------------------------------------------------


@pytest.fixture(scope="module")
def cifar_subset(tmp_path_factory) -> Path:
    """10 train and 10 test JPEGs per class, unpacked from the shared CIFAR-10 zip."""
    if not CIFAR_ZIP.exists():
        pytest.skip(f"{CIFAR_ZIP} not found")
    root = tmp_path_factory.mktemp("cifar")
    with zipfile.ZipFile(CIFAR_ZIP) as z:
        names = [n for n in z.namelist() if fnmatch.fnmatch(n, "t*/*/000?.jpg")]
        z.extractall(root, members=names)
    return root


@pytest.mark.data
def test_imagefolder_cifar_subset_and_cache(cifar_subset, tmp_path, monkeypatch):
    monkeypatch.setenv("RCX_CACHE_DIR", str(tmp_path / "cache"))
    ds = ImageFolderProvider().load({"root": str(cifar_subset)}, cache_dir())
    assert ds.classes == CIFAR_CLASSES
    assert ds.train_x.shape == (100, 3, 32, 32) and ds.test_x.shape == (100, 3, 32, 32)
    assert ds.train_x.dtype == torch.uint8 and ds.train_y.dtype == torch.int64
    assert torch.equal(ds.train_y, torch.arange(10).repeat(10))  # round-robin: every prefix is balanced
    assert torch.equal(ds.test_y, torch.arange(10).repeat(10))
    with Image.open(cifar_subset / "train" / "cat" / "0004.jpg") as im:
        ref = torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)
    assert (ds.train_x[4 * 10 + 3].float() - ref.float()).abs().mean() < 2  # decoders may differ by a bit
    assert ds.mean == pytest.approx(channel_stats(ds.train_x)[0])

    cached = list((tmp_path / "cache" / "imagefolder").glob("*.pt"))
    assert len(cached) == 1

    def no_decoding(path, data):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(imagefolder, "_decode_file", no_decoding)
    again = ImageFolderProvider().load({"root": str(cifar_subset)}, cache_dir())
    assert torch.equal(again.train_x, ds.train_x) and torch.equal(again.test_y, ds.test_y)
    assert again.classes == ds.classes and again.mean == ds.mean

    with pytest.raises(AssertionError, match="decoded again"):  # another image_size is another cache entry
        ImageFolderProvider().load({"root": str(cifar_subset), "image_size": 16}, cache_dir())


@pytest.mark.data
def test_imagefolder_image_size(cifar_subset, tmp_path, monkeypatch):
    monkeypatch.setenv("RCX_CACHE_DIR", str(tmp_path / "cache"))
    ds = ImageFolderProvider().load({"root": str(cifar_subset), "image_size": 16}, cache_dir())
    assert ds.train_x.shape == (100, 3, 16, 16) and ds.test_x.shape == (100, 3, 16, 16)


# --- imagefolder: layout errors on tiny PNG trees ----------------------------------------


def write_png(path: Path, size: tuple[int, int] = (8, 8), value: int = 100, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value, 255 - value, 30)).save(path)


def tiny_tree(root: Path, train=("a", "b"), test=("a", "b"), per_class: int = 2) -> Path:
    for split, classes in (("train", train), ("test", test)):
        for i, c in enumerate(classes):
            for j in range(per_class):
                write_png(root / split / c / f"{j}.png", value=40 * i + j)
    return root


def load_folder(root, **opts) -> ImageDataset:
    return ImageFolderProvider().load({"root": None if root is None else str(root)} | opts, cache_dir())


def test_imagefolder_tiny_tree(tmp_path):
    root = tiny_tree(tmp_path / "ds", train=("b", "a"), test=("a", "b"))
    write_png(root / "train" / "a" / "gray.png", value=77, mode="L")
    (root / "train" / "a" / "notes.txt").write_text("ignored")
    ds = load_folder(root)
    assert ds.classes == ["a", "b"] and ds.name == "imagefolder"
    assert ds.train_x.shape == (5, 3, 8, 8) and ds.train_y.tolist() == [0, 1, 0, 1, 0]
    # round-robin over classes, files by name: a/0 b/0 a/1 b/1 a/gray (grey PNG expanded to RGB)
    assert ds.train_x[4].unique().tolist() == [77]
    assert ds.test_x.shape == (4, 3, 8, 8) and ds.test_y.tolist() == [0, 1, 0, 1]


def test_imagefolder_cache_follows_changes(tmp_path):
    root = tiny_tree(tmp_path / "ds")
    assert len(load_folder(root).train_y) == 4
    write_png(root / "train" / "b" / "new.png")
    assert len(load_folder(root).train_y) == 5


def test_imagefolder_missing_root_option():
    with pytest.raises(DatasetError, match="set `root`"):
        load_folder(None)


def test_imagefolder_root_not_found(tmp_path):
    with pytest.raises(DatasetError, match="not a folder") as err:
        load_folder(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(err.value) and "ROOT/train/<class>" in str(err.value)


def test_imagefolder_missing_test_folder(tmp_path):
    root = tiny_tree(tmp_path / "ds")
    shutil.rmtree(root / "test")
    with pytest.raises(DatasetError, match="test") as err:
        load_folder(root)
    assert str(root / "test") in str(err.value) and "ROOT/test/<class>" in str(err.value)


def test_imagefolder_mismatched_classes(tmp_path):
    root = tiny_tree(tmp_path / "ds", train=("a", "b", "c"), test=("a", "b", "d"))
    with pytest.raises(DatasetError, match=r"only in train: \['c'\]; only in test: \['d'\]"):
        load_folder(root)


def test_imagefolder_mixed_sizes_need_image_size(tmp_path):
    root = tiny_tree(tmp_path / "ds")
    write_png(root / "test" / "b" / "big.png", size=(12, 10))
    with pytest.raises(DatasetError, match="image_size") as err:
        load_folder(root)
    assert "big.png" in str(err.value) and "12x10" in str(err.value)
    ds = load_folder(root, image_size=6)
    assert ds.train_x.shape == (4, 3, 6, 6) and ds.test_x.shape == (5, 3, 6, 6)


def test_imagefolder_undecodable_file(tmp_path):
    root = tiny_tree(tmp_path / "ds")
    (root / "train" / "a" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(DatasetError, match="broken.png"):
        load_folder(root)
    (root / "train" / "a" / "broken.png").write_bytes(b"")
    with pytest.raises(DatasetError, match="broken.png is empty"):
        load_folder(root)


# --- torchvision providers ---------------------------------------------------------------


@pytest.mark.parametrize("provider", TORCHVISION_PROVIDERS, ids=lambda p: p.name)
def test_torchvision_missing_files_error(provider, tmp_path):
    with pytest.raises(DatasetError) as err:
        provider().load({"root": str(tmp_path), "download": False}, cache_dir())
    msg = str(err.value)
    assert msg.startswith(f"{provider.name}:") and str(tmp_path) in msg and "download = true" in msg


def test_torchvision_default_root_is_in_cache_dir(tmp_path):
    with pytest.raises(DatasetError) as err:
        TORCHVISION_PROVIDERS[0]().load({}, tmp_path)
    assert str(tmp_path / "datasets") in str(err.value)


@pytest.mark.data
def test_mnist_from_real_idx_files(tmp_path):
    """torchvision's MNIST wants train files too: the real t10k files stand in for both splits."""
    src = SHARED_DATA / "mnist"
    if not (src / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"{src} not found")
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for kind in ("images-idx3", "labels-idx1"):
        data = gzip.decompress((src / f"t10k-{kind}-ubyte.gz").read_bytes())
        for split in ("train", "t10k"):
            (raw / f"{split}-{kind}-ubyte").write_bytes(data)
    ds = MNISTProvider().load({"root": str(tmp_path)}, cache_dir())
    assert ds.train_x.shape == (10000, 1, 28, 28) and ds.train_x.dtype == torch.uint8
    assert ds.test_y.dtype == torch.int64 and ds.test_y[:4].tolist() == [7, 2, 1, 0]
    assert ds.num_classes == 10 and ds.mean == (0.1307,)
    assert channel_stats(ds.test_x)[0][0] == pytest.approx(0.1325, abs=2e-3)


def test_registry_and_light_import(registry):
    for name in ("synthetic", "imagefolder", "cifar10", "cifar100", "mnist", "fashionmnist", "svhn", "stl10"):
        assert registry.get("dataset", name).name == name
    code = ("import sys, rcx.data, rcx.data.torchvision_sets, rcx.data.imagefolder\n"
            "assert 'torchvision.datasets' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy())


# --- prepare -----------------------------------------------------------------------------


def fake_dataset(n_train: int = 200, n_test: int = 50, num_classes: int = 5, channels: int = 3,
                 seed: int = 0) -> ImageDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n_train + n_test, channels, 12, 12), dtype=torch.uint8, generator=g)
    y = torch.randint(0, num_classes, (n_train + n_test,), generator=g)
    return ImageDataset("fake", x[:n_train], y[:n_train], x[n_train:], y[n_train:],
                        [f"c{i}" for i in range(num_classes)], (0.5,) * channels, (0.25,) * channels)


def test_common_options_declared():
    assert [o.name for o in COMMON_OPTIONS] == ["train_size", "test_size", "selection", "resize", "grayscale_to_rgb"]


def test_prepare_defaults_keep_everything():
    ds = fake_dataset()
    out = prepare(ds, {}, seed=0)
    assert torch.equal(out.train_x, ds.train_x) and torch.equal(out.test_y, ds.test_y)
    assert out.mean == ds.mean and out.std == ds.std


def test_prepare_first():
    ds = fake_dataset()
    out = prepare(ds, {"train_size": 30, "test_size": 7}, seed=0)
    assert torch.equal(out.train_x, ds.train_x[:30]) and torch.equal(out.train_y, ds.train_y[:30])
    assert torch.equal(out.test_x, ds.test_x[:7]) and out.mean == ds.mean


def test_prepare_stratified_balanced_and_seeded():
    ds = fake_dataset()
    out = prepare(ds, {"train_size": 53, "test_size": 20, "selection": "stratified"}, seed=0)
    counts = torch.bincount(out.train_y, minlength=5)
    assert counts.sum() == 53 and counts.max() - counts.min() == 1
    assert torch.bincount(out.test_y, minlength=5).tolist() == [4] * 5
    assert sorted(out.train_y[:10].tolist()) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]  # prefixes balanced too
    again = prepare(ds, {"train_size": 53, "selection": "stratified"}, seed=0)
    assert torch.equal(again.train_x, out.train_x) and torch.equal(again.train_y, out.train_y)
    other = prepare(ds, {"train_size": 53, "selection": "stratified"}, seed=1)
    assert not torch.equal(other.train_x, out.train_x)
    idx = stratified_indices(ds.train_y, 53, 5, 0, "train")
    assert len(set(idx.tolist())) == 53 and torch.equal(ds.train_x[idx], out.train_x)


def test_stratified_small_class_gives_all_it_has():
    y = torch.tensor([0] * 2 + [1] * 30 + [2] * 30)
    idx = stratified_indices(y, 30, 3, seed=5, split="train")
    assert torch.bincount(y[idx], minlength=3).tolist() == [2, 14, 14]


def test_prepare_too_large():
    ds = fake_dataset(n_train=20, n_test=10)
    with pytest.raises(DatasetError, match=r"train_size = 21 .* only 20"):
        prepare(ds, {"train_size": 21}, seed=0)
    with pytest.raises(DatasetError, match=r"test_size = 11 .* only 10"):
        prepare(ds, {"test_size": 11, "selection": "stratified"}, seed=0)


def test_prepare_resize():
    ds = fake_dataset(n_train=20, n_test=10)
    out = prepare(ds, {"resize": 24, "train_size": 5}, seed=0)
    assert out.train_x.shape == (5, 3, 24, 24) and out.test_x.shape == (10, 3, 24, 24)
    assert out.train_x.dtype == torch.uint8 and out.mean == ds.mean
    flat = torch.full((2, 3, 10, 10), 123, dtype=torch.uint8)
    assert torch.equal(resize_uint8(flat, 4), torch.full((2, 3, 4, 4), 123, dtype=torch.uint8))
    assert resize_uint8(flat, 10) is flat


def test_prepare_grayscale_to_rgb():
    ds = fake_dataset(channels=1)
    out = prepare(ds, {"grayscale_to_rgb": True, "resize": 6}, seed=0)
    assert out.train_x.shape == (200, 3, 6, 6) and out.mean == (0.5,) * 3 and out.std == (0.25,) * 3
    assert torch.equal(out.train_x[:, 0], out.train_x[:, 2])
    rgb = fake_dataset()
    assert prepare(rgb, {"grayscale_to_rgb": True}, seed=0).train_x.shape[1] == 3
