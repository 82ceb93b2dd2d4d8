"""The on-device batch loader (design.md §5)."""

from __future__ import annotations

import pytest
import torch

from lib.data import ImageDataset
from lib.data.loader import PAD, Batch, DeviceLoader, crop_flip


def make(n=50, c=1, hw=8, value=None):
    g = torch.Generator().manual_seed(0)
    images = (torch.full((n, c, hw, hw), value, dtype=torch.uint8) if value is not None
              else torch.randint(0, 256, (n, c, hw, hw), generator=g, dtype=torch.uint8))
    return ImageDataset(images, torch.arange(n) % 10, 10)


def positions(loader):
    return torch.cat([b.index for b in loader])


def test_order_is_deterministic_per_seed_and_epoch():
    ds = make()
    a, b = DeviceLoader(ds, 8, seed=3), DeviceLoader(ds, 8, seed=3)
    assert torch.equal(positions(a), positions(b))
    first = positions(a)
    a.set_epoch(1)
    assert not torch.equal(positions(a), first)
    a.set_epoch(0)
    assert torch.equal(positions(a), first)
    assert not torch.equal(positions(DeviceLoader(ds, 8, seed=4)), first)


@pytest.mark.parametrize("drop_last", [False, True])
def test_every_example_once_per_epoch(drop_last):
    ds = make(n=50)
    loader = DeviceLoader(ds, 8, drop_last=drop_last)
    batches = list(loader)
    assert len(batches) == len(loader) == (6 if drop_last else 7)
    pos = torch.cat([b.index for b in batches])
    if drop_last:
        assert len(pos) == 48 and len(set(pos.tolist())) == 48
    else:
        assert sorted(pos.tolist()) == list(range(50))
    assert all(isinstance(b, Batch) for b in batches)


def test_batches_match_the_view():
    ds = make(n=30, c=3)
    view = ds.subset(torch.arange(29, -1, -3)).relabel(torch.arange(10) + 100)
    view = view.with_weights(torch.linspace(0, 1, 10))
    for b in DeviceLoader(view, 4, shuffle=True, seed=1, channels_last=True):
        assert b.x.dtype == torch.float32 and b.x.shape[1:] == (3, 8, 8)
        assert b.x.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(b.x, view.images[b.index].float() / 255)
        assert torch.equal(b.y, view.labels[b.index])
        assert torch.equal(b.weight, view.weights[b.index])
    assert next(iter(DeviceLoader(ds, 4))).weight is None


def test_views_share_the_base_storage():
    ds = make(n=20)
    sub = ds.subset([1, 3, 5]).relabel([0, 1, 2])
    ptr = ds.base_images.untyped_storage().data_ptr()
    for view in (ds, sub, sub.with_weights([1.0, 2.0, 3.0])):
        assert DeviceLoader(view, 2).images.untyped_storage().data_ptr() == ptr


def test_no_shuffle_is_in_order():
    assert positions(DeviceLoader(make(n=10), 3, shuffle=False)).tolist() == list(range(10))


def test_augment_zero_padding_only_at_borders():
    ds = make(n=64, c=3, hw=12, value=255)
    seen_shift = seen_full_pad = False
    for b in DeviceLoader(ds, 16, augment=True, seed=0):
        assert b.x.shape == (16, 3, 12, 12)
        for img in b.x:
            full = img == 1.0
            assert bool((full | (img == 0)).all())
            rows, cols = full[0].any(dim=1), full[0].any(dim=0)
            r, c = rows.nonzero().flatten(), cols.nonzero().flatten()
            # the lit area is one rectangle; the zeros are a border strip of at most PAD px
            assert len(r) >= 12 - PAD and len(c) >= 12 - PAD
            assert r[-1] - r[0] + 1 == len(r) and c[-1] - c[0] + 1 == len(c)
            assert r[0] == 0 or r[-1] == 11
            assert c[0] == 0 or c[-1] == 11
            assert int(full[0].sum()) == len(r) * len(c)
            seen_shift |= len(r) < 12 or len(c) < 12
            seen_full_pad |= len(r) == 12 - PAD or len(c) == 12 - PAD
    assert seen_shift and seen_full_pad


def test_crop_flip_offsets():
    x = torch.arange(2 * 1 * 5 * 6, dtype=torch.uint8).reshape(2, 1, 5, 6)
    centre = torch.full((2,), PAD)
    no = torch.zeros(2, dtype=torch.bool)
    assert torch.equal(crop_flip(x, centre, centre, no), x)
    assert torch.equal(crop_flip(x, centre, centre, ~no), x.flip(3))
    down = crop_flip(x, centre - 2, centre, no)  # content moves down by 2 rows
    assert int(down[:, :, :2].abs().sum()) == 0 and torch.equal(down[:, :, 2:], x[:, :, :-2])
    right = crop_flip(x, centre, centre - PAD, no)
    assert int(right[..., :PAD].abs().sum()) == 0 and torch.equal(right[..., PAD:], x[..., :-PAD])


def test_augmentation_is_deterministic():
    ds = make(n=20, hw=10)
    run = [torch.cat([b.x for b in DeviceLoader(ds, 7, augment=True, seed=5)]) for _ in range(2)]
    assert torch.equal(run[0], run[1])
    other = DeviceLoader(ds, 7, augment=True, seed=5)
    other.set_epoch(2)
    assert not torch.equal(torch.cat([b.x for b in other]), run[0])


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        DeviceLoader(make(), 0)
    with pytest.raises(TypeError, match="dataset"):
        DeviceLoader(torch.zeros(3, 1, 2, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_images_moved_once_and_shared():
    ds = make(n=20)
    a, b = DeviceLoader(ds, 4, device="cuda"), DeviceLoader(ds.subset([1, 2]), 4, device="cuda")
    assert a.images is b.images and a.images.is_cuda
    cpu = torch.cat([x.x.cpu() for x in DeviceLoader(ds, 4, augment=True, seed=2)])
    gpu = torch.cat([x.x.cpu() for x in DeviceLoader(ds, 4, augment=True, seed=2, device="cuda")])
    assert torch.equal(cpu, gpu)
