"""L∞ PGD, adversarial training objective and the AutoAttack wrapper (paper §3.3)."""

import copy
import itertools
import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lib.attacks import autoattack_accuracy, pgd_linf
from lib.data.loader import Batch
from lib.training.objectives import get_objective, objective_names

EPS, STEP = 8 / 255, 2 / 255


def blobs(n=64, seed=0):
    """Two classes of 1×4×4 images in [0, 1]: dim (mean 0.4) vs bright (mean 0.6)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = (0.4 + 0.2 * y.float()[:, None, None, None]
         + 0.05 * torch.randn(n, 1, 4, 4, generator=g)).clamp(0, 1)
    return x, y


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors: one intra-op thread avoids contention overhead on busy CPUs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained_linear(one_thread):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    x, y = blobs()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    for _ in range(200):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    model.zero_grad(set_to_none=True)
    return model.eval()


def tiny_conv(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Dropout(0.2), nn.Flatten(), nn.Linear(64, 3))


@pytest.mark.parametrize("steps", [0, 1, 2, 3])
@pytest.mark.parametrize("random_start", [True, False])
def test_every_iterate_is_in_the_ball_and_the_image_range(trained_linear, steps, random_start):
    x, y = blobs()
    x[:4] = 0.0  # boundary pixels: the projection must respect [0, 1]
    x[4:8] = 1.0
    adv = pgd_linf(trained_linear, x, y, EPS, STEP, steps, random_start)
    assert adv.dtype == torch.float32 and adv.shape == x.shape and not adv.requires_grad
    assert (adv - x).abs().max() <= EPS + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1


def test_attack_lowers_accuracy_of_a_trained_model(trained_linear):
    x, y = blobs(seed=1)
    clean = (trained_linear(x).argmax(1) == y).float().mean()
    adv = pgd_linf(trained_linear, x, y, eps=0.1, step_size=0.02, steps=10)
    robust = (trained_linear(adv).argmax(1) == y).float().mean()
    assert clean > 0.9 and robust < clean


def test_more_steps_never_lower_the_loss_much(trained_linear):
    x, y = blobs(seed=2)
    with torch.no_grad():  # the attack enables gradients itself
        losses = [float(F.cross_entropy(trained_linear(
            pgd_linf(trained_linear, x, y, EPS, STEP, steps, random_start=False)), y))
            for steps in (0, 1, 2, 4, 8, 20)]
    assert all(b >= a - 1e-4 for a, b in itertools.pairwise(losses)), losses
    assert losses[-1] > losses[0]


@pytest.mark.parametrize("train_mode", [True, False])
def test_model_mode_weights_and_grads_are_left_untouched(train_mode):
    model = tiny_conv().train(train_mode)
    x, y = torch.rand(6, 1, 4, 4), torch.randint(0, 3, (6,))
    model[0].weight.grad = torch.full_like(model[0].weight, 0.5)  # a pre-existing gradient
    before = copy.deepcopy(model.state_dict())
    pgd_linf(model, x, y, steps=3)
    assert model.training == train_mode
    assert all(m.training == train_mode for m in model.modules())
    for name, value in model.state_dict().items():
        if train_mode and ("running" in name or "num_batches" in name):
            continue  # batch norm statistics move in train mode, as in any forward
        torch.testing.assert_close(value, before[name])
    torch.testing.assert_close(model[0].weight.grad, torch.full_like(model[0].weight, 0.5))
    assert all(p.grad is None for n, p in model.named_parameters() if n != "0.weight")


def test_delta_stays_float32_under_bf16_autocast():
    model = tiny_conv().eval()
    x, y = torch.rand(4, 1, 4, 4), torch.randint(0, 3, (4,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        adv = pgd_linf(model, x, y, steps=2)
    assert adv.dtype == torch.float32
    assert (adv - x).abs().max() <= EPS + 1e-6
    # Not quantised to bf16: a float32 iterate takes values bf16 cannot represent.
    assert not torch.equal(adv, adv.bfloat16().float())


def test_random_start_is_reproducible_with_a_generator(trained_linear):
    x, y = blobs(n=8)
    run = lambda seed, steps: pgd_linf(trained_linear, x, y, steps=steps,
                                       generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(run(0, 0), run(0, 0), rtol=0, atol=0)
    torch.testing.assert_close(run(0, 3), run(0, 3), rtol=0, atol=0)
    assert not torch.equal(run(0, 0), run(1, 0))


def test_bad_arguments_name_the_parameter(trained_linear):
    x, y = blobs(n=4)
    with pytest.raises(ValueError, match=r"eps=-0.1 is out of range"):
        pgd_linf(trained_linear, x, y, eps=-0.1)
    with pytest.raises(TypeError, match=r"steps=2.5"):
        pgd_linf(trained_linear, x, y, steps=2.5)


def test_adversarial_objective_trains_on_pgd_examples():
    assert "adversarial" in objective_names()
    model = tiny_conv().train()
    x, y = torch.rand(8, 1, 4, 4), torch.randint(0, 3, (8,))
    batch = Batch(x, y, None, torch.arange(8))
    torch.manual_seed(0)
    loss, logits = get_objective("adversarial")(model, batch, eps=EPS, step_size=STEP, steps=2)
    assert loss.ndim == 0 and logits.shape == (8, 3) and model.training
    assert all(p.grad is None for p in model.parameters())  # the attack leaves none
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        clean = F.cross_entropy(model(x), y)
        torch.manual_seed(0)
        adv = pgd_linf(model, x, y, eps=EPS, step_size=STEP, steps=5)
        assert F.cross_entropy(model(adv), y) >= clean


def test_autoattack_accuracy_is_at_most_clean_accuracy(trained_linear):
    x, y = blobs(n=8, seed=3)
    clean = float((trained_linear(x).argmax(1) == y).float().mean())
    trained_linear.train()
    start = time.perf_counter()
    robust = autoattack_accuracy(trained_linear, x, y, eps=0.15, n_classes=2, batch_size=5)
    seconds = time.perf_counter() - start
    assert 0.0 <= robust <= clean
    assert trained_linear.training  # mode restored
    assert all(p.grad is None for p in trained_linear.parameters())
    trained_linear.eval()
    assert seconds < 30


@pytest.mark.parametrize("iterations", [None, 100])
def test_autoattack_gradient_attacks_run_the_asked_iterations(trained_linear, monkeypatch,
                                                               iterations):
    """APGD, APGD-T and FAB run ``iterations`` steps (default: torchattacks' 10)."""
    import torchattacks

    from lib.attacks.autoattack import ORIGINAL_ITERATIONS, TORCHATTACKS_ITERATIONS

    assert (ORIGINAL_ITERATIONS, TORCHATTACKS_ITERATIONS) == (100, 10)
    seen, targets = [], []
    for cls, method in ((torchattacks.APGD, "attack_single_run"),
                        (torchattacks.APGDT, "attack_single_run"),
                        (torchattacks.FAB, "perturb")):
        original = getattr(cls, method)

        def recording(self, *args, _original=original, _name=cls.__name__, **kwargs):
            seen.append((_name, self.steps))
            if _name != "APGD":  # the targeted ones: at most 9 targets, as the original
                targets.append(self.n_target_classes)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, method, recording)
    x, y = blobs(n=4, seed=3)
    kwargs = {} if iterations is None else {"iterations": iterations}
    autoattack_accuracy(trained_linear, x, y, eps=0.15, n_classes=2, **kwargs)
    expected = iterations or 10
    assert ("APGD", expected) in seen
    assert all(steps == expected for _, steps in seen)
    assert all(n == 1 for n in targets)  # two classes: one target


def test_autoattack_targets_at_most_nine_classes(monkeypatch):
    """Original standard version: APGD-T and FAB-T over 9 target classes
    (torchattacks would try all K−1 = 99 on CIFAR-100)."""
    import torchattacks

    built = []

    def recording(self, images, labels):
        built.extend((type(a).__name__, getattr(a, "n_target_classes", None))
                     for a in self.attacks)
        return images

    monkeypatch.setattr(torchattacks.MultiAttack, "forward", recording)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 100))
    x, y = torch.rand(2, 1, 2, 2), torch.tensor([0, 1])
    autoattack_accuracy(model, x, y, eps=0.1, n_classes=100)
    assert dict(built) == {"APGD": None, "APGDT": 9, "FAB": 9, "Square": None}


def test_autoattack_rejects_bad_iterations(trained_linear):
    x, y = blobs(n=2)
    with pytest.raises(ValueError, match="iterations"):
        autoattack_accuracy(trained_linear, x, y, iterations=0)
    with pytest.raises(TypeError, match="iterations"):
        autoattack_accuracy(trained_linear, x, y, iterations=2.5)


def test_autoattack_rejects_unknown_version(trained_linear):
    x, y = blobs(n=2)
    with pytest.raises(ValueError, match=r"version='fast'.*'standard', 'plus', 'rand'"):
        autoattack_accuracy(trained_linear, x, y, version="fast")


def test_pgd_accuracy_runs_without_autocast(autocast_calls):
    """PGD and its scoring are float32 on every device: autocast is never entered."""
    from lib.data.base import ImageDataset
    from lib.evaluation.robustness import pgd_accuracy

    entered = autocast_calls
    images = torch.randint(0, 256, (6, 1, 4, 4), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    data = ImageDataset(images, torch.arange(6) % 2, 2)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    accuracy = pgd_accuracy(model, data, torch.device("cpu"), eps=0.1, step_size=0.05, steps=2)
    assert 0.0 <= accuracy <= 1.0
    assert entered == []
