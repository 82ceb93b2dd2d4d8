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


def test_autoattack_restores_mode_and_grads_and_is_fast():
    """The model comes back in its mode, without gradients; the result is the
    exact robust accuracy of the linear model (see the closed-form test below)."""
    model, x, y = _linear_data(n=16, d=16, classes=4, seed=3)
    exact = float(_closed_form_robust(model[1], x, y, 0.1)[0].float().mean())
    assert 0.0 < exact < 1.0
    model.train()
    start = time.perf_counter()
    robust = autoattack_accuracy(model, x, y, eps=0.1, n_classes=4, batch_size=5)
    seconds = time.perf_counter() - start
    assert abs(robust - exact) <= 1 / len(y) + 1e-9, (robust, exact)
    assert model.training  # mode restored
    assert all(p.grad is None for p in model.parameters())
    assert seconds < 30


@pytest.mark.parametrize(("version", "classes"), [("standard", 3), ("plus", 2), ("rand", 2)])
def test_autoattack_rejects_too_few_classes_for_its_losses(version, classes):
    """The DLR losses read the 3rd (targeted: 4th) largest logit: fewer classes
    would crash inside torchattacks once an example survives APGD-CE."""
    model, x, y = _linear_data(n=4, d=16, classes=classes, seed=0)
    with pytest.raises(ValueError, match=r"n_classes=\d is out of range"):
        autoattack_accuracy(model, x, y, eps=0.1, n_classes=classes, version=version)


@pytest.mark.parametrize("iterations", [None, 100])
def test_autoattack_gradient_attacks_run_the_asked_iterations(monkeypatch, iterations):
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
    model, x, y = _linear_data(n=8, d=16, classes=4, seed=3)  # some survive APGD-CE
    kwargs = {} if iterations is None else {"iterations": iterations}
    autoattack_accuracy(model, x, y, eps=0.1, n_classes=4, **kwargs)
    expected = iterations or 10
    assert {name for name, _ in seen} == {"APGD", "APGDT", "FAB"}
    assert all(steps == expected for _, steps in seen)
    assert targets and all(n == 3 for n in targets)  # four classes: three targets


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


# -- closed-form optima on linear models (issue 24, item 5) -----------------------------------

def _box(x, eps):
    """The feasible set: the ε-ball around ``x`` intersected with [0, 1], per pixel."""
    return (x - eps).clamp(min=0), (x + eps).clamp(max=1)


def _worst_pairwise_margins(linear, x, y, eps):
    """Exact minimum over the box of ``z_y − z_j`` for every class j (∞ at j = y):
    a linear function is minimised per pixel at the box end against its weight.
    Returns (margins [n, K], the minimising inputs [n, K, d])."""
    w, b = linear.weight.detach(), linear.bias.detach()
    flat = x.flatten(1)
    lo, hi = _box(flat, eps)
    v = w[y][:, None, :] - w[None, :, :]  # [n, K, d]: weight of z_y − z_j
    worst_x = torch.where(v > 0, lo[:, None, :], hi[:, None, :])
    margins = (v * worst_x).sum(-1) + (b[y][:, None] - b[None, :])
    margins[torch.arange(len(y)), y] = float("inf")
    return margins, worst_x


def _closed_form_robust(linear, x, y, eps):
    """Which examples no perturbation in the box can misclassify (exact)."""
    margins, _ = _worst_pairwise_margins(linear, x, y, eps)
    return margins.min(1).values > 0, margins


def _reference_pgd(model, x, y, eps, step_size, steps, start=None):
    """A plain statement of L∞ PGD, independent of :func:`pgd_linf`: from ``start``
    (default ``x``), ascend the summed cross-entropy by ``step_size · sign(∇)``,
    clip to ``[x − ε, x + ε]`` and then to [0, 1]. Returns every iterate."""
    adv = (x if start is None else start).clone()
    iterates = [adv]
    for _ in range(steps):
        adv = adv.clone().requires_grad_(True)
        loss = F.cross_entropy(model(adv), y, reduction="sum")
        grad, = torch.autograd.grad(loss, adv)
        adv = adv.detach() + step_size * grad.sign()
        adv = torch.max(torch.min(adv, x + eps), x - eps).clamp(0, 1)
        iterates.append(adv)
    return iterates


def _linear_data(n, d, classes, seed):
    """A fixed random linear classifier on ``d``-pixel images uniform in [0, 1],
    labelled by its own clean prediction (clean accuracy 1); some pixels sit on 0
    or 1 so that the box, not the ball, binds there."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(d, classes))
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(classes, d, generator=g))
        model[1].bias.copy_(0.1 * torch.randn(classes, generator=g))
    x = torch.rand(n, 1, 1, d, generator=g)
    x[:, :, :, :3] = 0.0
    x[:, :, :, 3:6] = 1.0
    with torch.no_grad():
        y = model(x).argmax(1)
    return model.eval(), x, y


@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_reaches_the_closed_form_optimum_of_a_binary_linear_model(random_start):
    """Two classes: the cross-entropy falls with the margin ``z_y − z_other``, whose
    minimum over the box is attained at the box corner against the weights. With
    steps enough to cross the ball (2ε / step), PGD must land on that corner, reach
    that margin, and misclassify exactly the examples the closed form can flip."""
    model, x, y = _linear_data(n=200, d=16, classes=2, seed=0)
    eps = 0.1
    margins, corners = _worst_pairwise_margins(model[1], x, y, eps)
    worst = margins.min(1).values
    flippable = worst < 0
    assert 0.2 < flippable.float().mean() < 0.8  # the test discriminates
    assert worst.abs().min() > 1e-3  # no example sits on the boundary
    adv = pgd_linf(model, x, y, eps=eps, step_size=eps / 4, steps=10, random_start=random_start,
                   generator=torch.Generator().manual_seed(0))
    optimum = corners[torch.arange(len(y)), 1 - y].view_as(x)
    torch.testing.assert_close(adv, optimum, rtol=0, atol=1e-6)
    with torch.no_grad():
        logits = model(adv)
    reached = logits[torch.arange(len(y)), y] - logits[torch.arange(len(y)), 1 - y]
    torch.testing.assert_close(reached, worst, rtol=0, atol=1e-4)
    torch.testing.assert_close((logits.argmax(1) != y), flippable, rtol=0, atol=0)


def test_pgd_flips_exactly_the_flippable_examples_of_the_trained_linear_model(trained_linear):
    """The same on the trained two-class model and real labels (some clean errors):
    after PGD, wrong exactly where the exact worst-case margin is negative, and its
    loss equals the exact worst-case cross-entropy, softplus(−margin)."""
    x, y = blobs(n=256, seed=10)
    x[:4], x[4:8] = 0.0, 1.0
    eps = 0.09
    margins, _ = _worst_pairwise_margins(trained_linear[1], x, y, eps)
    worst = margins.min(1).values
    assert 0.1 < (worst < 0).float().mean() < 0.9 and worst.abs().min() > 1e-3
    adv = pgd_linf(trained_linear, x, y, eps=eps, step_size=eps / 8, steps=20)  # 2ε in 16
    with torch.no_grad():
        logits = trained_linear(adv)
        loss = F.cross_entropy(logits, y, reduction="none")
    torch.testing.assert_close(logits.argmax(1) != y, worst < 0, rtol=0, atol=0)
    torch.testing.assert_close(loss, F.softplus(-worst), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make_model", ["binary", "conv"])
def test_pgd_without_random_start_matches_a_reference_implementation(make_model):
    """Iterate by iterate, ``pgd_linf(random_start=False)`` is the textbook PGD,
    on a linear model and on a small non-linear network (eval mode)."""
    if make_model == "binary":
        model, x, y = _linear_data(n=32, d=16, classes=2, seed=1)
        x = x.view(32, 1, 4, 4)
    else:
        model = tiny_conv(seed=3).eval()
        g = torch.Generator().manual_seed(3)
        x, y = torch.rand(16, 1, 4, 4, generator=g), torch.randint(0, 3, (16,), generator=g)
        x[:2] = 0.0
    iterates = _reference_pgd(model, x, y, EPS, STEP, 6)
    for steps, expected in enumerate(iterates):
        adv = pgd_linf(model, x, y, EPS, STEP, steps, random_start=False)
        torch.testing.assert_close(adv, expected, rtol=0, atol=1e-6)
    assert not torch.equal(iterates[-1], x)


def test_pgd_random_start_matches_the_reference_from_the_same_clamped_start():
    """With a random start, the paper start is ``clamp(x + u, 0, 1)`` with ``u``
    uniform in [−ε, ε] drawn from the generator; the steps are then the reference's."""
    model = tiny_conv(seed=4).eval()
    g = torch.Generator().manual_seed(4)
    x, y = torch.rand(16, 1, 4, 4, generator=g), torch.randint(0, 3, (16,), generator=g)
    x[:2] = 0.0
    start = (x + _noise(x.shape, EPS, seed=11)).clamp(0, 1)
    expected = _reference_pgd(model, x, y, EPS, STEP, 4, start=start)
    for steps in (0, 4):
        adv = pgd_linf(model, x, y, EPS, STEP, steps, generator=torch.Generator().manual_seed(11))
        torch.testing.assert_close(adv, expected[steps], rtol=0, atol=1e-6)


@pytest.mark.parametrize("classes", [4, 10])
def test_autoattack_finds_the_closed_form_robust_accuracy_of_a_linear_model(classes):
    """On a linear model the exact robust accuracy is known (no class's worst-case
    pairwise margin below 0); AutoAttack must reach it within one image, and the
    PGD-20 bound can never fall below it."""
    model, x, y = _linear_data(n=60, d=16, classes=classes, seed=5 + classes)
    eps = 0.1
    robust, margins = _closed_form_robust(model[1], x, y, eps)
    assert margins.min(1).values.abs().min() > 1e-3
    exact = float(robust.float().mean())
    assert 0.2 < exact < 0.8, exact
    found = autoattack_accuracy(model, x, y, eps=eps, n_classes=classes, batch_size=60)
    assert abs(found - exact) <= 1 / len(y) + 1e-9, (found, exact)
    adv = pgd_linf(model, x, y, eps=eps, step_size=eps / 4, steps=20, random_start=False)
    with torch.no_grad():
        pgd_robust = model(adv).argmax(1) == y
    assert not (pgd_robust < robust).any()  # an attack cannot beat the optimum


def test_pgd_accuracy_is_the_closed_form_robust_accuracy_of_a_linear_model():
    """:func:`pgd_accuracy` (uint8 images, batches, random start) on a binary
    linear model: exactly the fraction no perturbation in the box can flip."""
    from lib.data.base import ImageDataset
    from lib.evaluation.robustness import pgd_accuracy

    model, x, _ = _linear_data(n=300, d=16, classes=2, seed=12)
    images = (x.view(300, 1, 4, 4) * 255).round().to(torch.uint8)
    x = images.float() / 255
    with torch.no_grad():
        y = model(x).argmax(1)
    eps = 0.1
    robust, margins = _closed_form_robust(model[1], x, y, eps)
    assert margins.min(1).values.abs().min() > 1e-3
    exact = float(robust.float().mean())
    assert 0.2 < exact < 0.8
    data = ImageDataset(images, y, 2)
    found = pgd_accuracy(model, data, torch.device("cpu"), eps=eps, step_size=eps / 8, steps=20,
                         batch_size=128)
    assert round(found * len(y)) == int(robust.sum())  # the same images, counted
    assert pgd_accuracy(model, data, torch.device("cpu"), eps=0.0, step_size=0.0, steps=0,
                        random_start=False) == 1.0  # labels are the clean predictions
