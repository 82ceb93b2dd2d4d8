"""TensorFloat-32 (issue 27, item 4): off wherever the book says float32 (every
evaluation: predictions, PGD, AutoAttack), allowed in training on CUDA only, the
flags restored afterwards and the training state recorded in each run's
provenance. On a CPU the flags can be set and read though they change nothing,
so these tests watch the flags the model's forward pass sees."""

import pytest
import torch
from torch import nn

from lib.data.base import ImageDataset
from lib.training import precision
from lib.training.precision import tf32, tf32_state, training_tf32


@pytest.fixture
def flags_on():
    """Both flags allowed before the test (torch's cuDNN default), restored after."""
    saved = tf32_state()
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = True
    yield
    torch.backends.cudnn.allow_tf32 = saved["cudnn"]
    torch.backends.cuda.matmul.allow_tf32 = saved["matmul"]


class Watching(nn.Module):
    """A linear classifier of 1×4×4 images that records the TF32 flags at every forward."""

    def __init__(self, classes=2):
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(16, classes)
        self.seen = []

    def forward(self, x):
        self.seen.append(tf32_state())
        return self.linear(x.flatten(1))


def _data(n=6, classes=2):
    images = torch.randint(0, 256, (n, 1, 4, 4), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    return ImageDataset(images, torch.arange(n) % classes, classes)


OFF = {"cudnn": False, "matmul": False}
ON = {"cudnn": True, "matmul": True}


def test_the_context_sets_both_flags_and_restores_them(flags_on):
    assert tf32_state() == ON
    with tf32(False):
        assert tf32_state() == OFF
        with tf32(True):
            assert tf32_state() == ON
        assert tf32_state() == OFF
    assert tf32_state() == ON
    with pytest.raises(RuntimeError, match="inside"):
        with tf32(False):
            raise RuntimeError("inside")
    assert tf32_state() == ON  # restored after an error too


def test_training_allows_tf32_on_cuda_only():
    assert training_tf32(torch.device("cuda")) is True
    assert training_tf32(torch.device("cpu")) is False
    assert training_tf32("cpu") is False


def test_predictions_run_without_tf32(flags_on):
    from lib.training.engine import predict_logits

    model = Watching()
    predict_logits(model, _data(), torch.device("cpu"))
    assert model.seen and all(state == OFF for state in model.seen)
    assert tf32_state() == ON


def test_pgd_and_autoattack_run_without_tf32(flags_on):
    from lib.evaluation.robustness import autoattack_on, pgd_accuracy

    model = Watching(classes=4)  # AutoAttack's targeted DLR loss needs 4 classes
    for start in ("paper", "official"):
        pgd_accuracy(model, _data(classes=4), torch.device("cpu"), eps=0.1, step_size=0.05,
                     steps=2, start=start)
    autoattack_on(model, _data(4, classes=4), eps=0.1, iterations=1, square_queries=2)
    assert len(model.seen) > 6 and all(state == OFF for state in model.seen)
    assert tf32_state() == ON


@pytest.mark.parametrize("cuda", [False, True])
def test_training_steps_see_tf32_only_where_training_allows_it(monkeypatch, cuda):
    """The engine asks :func:`training_tf32` for the device (here faked for CUDA,
    on the CPU) and every training forward pass sees that state; afterwards
    the flags are as before."""
    from lib.data.loader import DeviceLoader
    from lib.presets import Recipe
    from lib.training import engine

    monkeypatch.setattr(engine, "training_tf32", lambda device: cuda)
    saved = tf32_state()
    torch.backends.cudnn.allow_tf32 = not cuda
    torch.backends.cuda.matmul.allow_tf32 = not cuda
    try:
        model = Watching()
        recipe = Recipe(epochs=1, lr=0.1, batch_size=3)
        loader = DeviceLoader(_data(), 3, shuffle=False, augment=False,
                              device=torch.device("cpu"))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        engine.train_one_epoch(model, loader, optimizer, scheduler, recipe,
                               torch.device("cpu"))
        expected = ON if cuda else OFF
        assert len(model.seen) == 2 and all(state == expected for state in model.seen)
        assert tf32_state() == {"cudnn": not cuda, "matmul": not cuda}
    finally:
        torch.backends.cudnn.allow_tf32 = saved["cudnn"]
        torch.backends.cuda.matmul.allow_tf32 = saved["matmul"]


def test_a_run_records_its_tf32_state(tmp_path):
    """The provenance of a trained run says whether its training allowed TF32."""
    from lib.presets import DataSpec, Recipe
    from lib.training import RunConfig, TrainingDataSpec, train_or_load

    tiny = DataSpec.of("fractal", num_classes=4, per_class=6, size=16, channels=1, seed=3)
    config = RunConfig(architecture="wrn-10-1", in_channels=1, data=TrainingDataSpec(tiny),
                       recipe=Recipe(epochs=1, lr=0.05, batch_size=8), seed=1)
    run = train_or_load(config, root=tmp_path, runs_dir=tmp_path / "runs", device="cpu",
                        verbose=False)
    assert run.info["tf32"] is False and run.info["precision"] == "float32"
    assert precision.training_tf32(torch.device("cpu")) is run.info["tf32"]
