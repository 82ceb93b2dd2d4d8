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


# -- the official code's random start (issue 27) ----------------------------------------------

def _official_reference(model, x, y, eps, step_size, steps, noise):
    """The official attack's behaviour (hendrycks/pre-training at 10cd02a,
    ``robustness/adversarial/attacks.py``), stated independently of
    :func:`pgd_linf`: the uniform noise is added to the clean batch itself (so the
    batch the projection uses *is* the noisy start, not clamped); each step adds
    ``step_size · sign(∇ summed CE)`` and projects onto the ε-ball around that
    batch, then onto [0, 1]. Returns (adversarial examples, the moved batch)."""
    batch = x.clone()
    batch += noise  # what the official code's in-place addition through a detached alias does
    adv = batch.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        grad = torch.autograd.grad(F.cross_entropy(model(adv), y, reduction="sum"), adv)[0]
        adv = adv.detach() + step_size * grad.sign()
        adv = adv.clamp(min=batch - eps).clamp(max=batch + eps).clamp(0, 1)
    return adv.detach(), batch


def _noise(shape, eps, seed):
    """The random start both attacks draw from ``seed``: uniform in [−ε, ε]."""
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1) * eps


@pytest.mark.parametrize("steps", [0, 1, 5, 20])
def test_official_start_matches_an_independent_statement_of_the_official_attack(
        trained_linear, steps):
    x, y = blobs(seed=4)
    x[:4] = 0.0  # boundary pixels: the start may leave [0, 1], the steps may not
    noise = _noise(x.shape, EPS, seed=7)
    expected, moved = _official_reference(trained_linear, x, y, EPS, STEP, steps, noise)
    adv = pgd_linf(trained_linear, x, y, EPS, STEP, steps, start="official",
                   generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(adv, expected, rtol=0, atol=1e-6)
    assert (adv - moved).abs().max() <= EPS + 1e-6  # the ball is centred on the noisy start
    if steps == 0:  # the start is the clean batch plus the noise, unclamped
        torch.testing.assert_close(adv, x + noise, rtol=0, atol=0)
        assert adv.min() < 0
    else:
        assert adv.min() >= 0 and adv.max() <= 1


@pytest.mark.parametrize("eps", [1 / 255, EPS])
def test_official_start_reaches_two_eps_and_the_default_never_exceeds_eps(trained_linear, eps):
    """Against a linear model the gradient's sign is fixed, so enough steps push
    every pixel to the edge of its ball: ε from the clean image by default, up to
    2ε with the official start (|noise| + ε where the noise points the same way)."""
    x, y = blobs(n=256, seed=5)  # pixels near 0.4 and 0.6: no clamp to [0, 1] interferes
    kwargs = dict(eps=eps, step_size=eps / 4, steps=20)
    official = pgd_linf(trained_linear, x, y, start="official",
                        generator=torch.Generator().manual_seed(0), **kwargs)
    default = pgd_linf(trained_linear, x, y, generator=torch.Generator().manual_seed(0),
                       **kwargs)
    reach, default_reach = (official - x).abs().max(), (default - x).abs().max()
    assert 1.95 * eps < reach <= 2 * eps + 1e-6
    assert 0.99 * eps < default_reach <= eps + 1e-6
    assert ((official - x).abs() > eps + 1e-6).float().mean() > 0.3


def test_official_start_without_a_random_start_is_the_default(trained_linear):
    x, y = blobs(seed=6)
    torch.testing.assert_close(
        pgd_linf(trained_linear, x, y, EPS, STEP, 5, random_start=False, start="official"),
        pgd_linf(trained_linear, x, y, EPS, STEP, 5, random_start=False), rtol=0, atol=0)


def test_the_default_start_is_unchanged_by_the_option(trained_linear):
    """The public signature still works positionally, and ``start="paper"`` is it."""
    x, y = blobs(seed=8)
    a = pgd_linf(trained_linear, x, y, EPS, STEP, 3, True,
                 generator=torch.Generator().manual_seed(1))
    b = pgd_linf(trained_linear, x, y, EPS, STEP, 3, True,
                 generator=torch.Generator().manual_seed(1), start="paper")
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="start='centre'"):
        pgd_linf(trained_linear, x, y, start="centre")


def test_adversarial_objective_passes_the_start_on(monkeypatch):
    """``objective_params`` may carry ``start``: the training attack gets it;
    without it, the paper's start."""
    import lib.attacks.pgd as pgd

    seen = []
    original = pgd.pgd_linf
    monkeypatch.setattr(pgd, "pgd_linf",
                        lambda *args, **kwargs: seen.append(kwargs["start"]) or original(
                            *args, **kwargs))
    model = tiny_conv().train()
    batch = Batch(torch.rand(4, 1, 4, 4), torch.randint(0, 3, (4,)), None, torch.arange(4))
    objective = get_objective("adversarial")
    objective(model, batch, eps=EPS, step_size=STEP, steps=1)
    objective(model, batch, eps=EPS, step_size=STEP, steps=1, start="official")
    assert seen == ["paper", "official"]


def test_official_start_lowers_robust_accuracy_where_the_default_leaves_some(trained_linear):
    """A larger reach: against the same model, from the same noise, the official
    start's robust accuracy is lower where the default's lies strictly between 0 and 1."""
    from lib.data.base import ImageDataset
    from lib.evaluation.robustness import pgd_accuracy

    x, y = blobs(n=512, seed=9)
    data = ImageDataset((x * 255).round().to(torch.uint8), y, 2)
    accuracy = {start: pgd_accuracy(trained_linear, data, torch.device("cpu"), eps=0.08,
                                    step_size=0.02, steps=20, start=start)
                for start in ("paper", "official")}
    assert 0.5 < accuracy["paper"] < 1.0
    assert accuracy["official"] < accuracy["paper"] - 0.02
