"""Wide ResNet: parameter counts of the paper's networks, shapes, features,
classifier replacement, registry and argument errors."""

import pytest
import torch

from lib.models import ARCHITECTURES, architecture_names, build_model, wide_resnet


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("depth,width,classes,expected", [
    (40, 2, 10, 2_243_546),     # the paper's WRN-40-2 (2.24M)
    (28, 10, 10, 36_479_194),   # the paper's WRN-28-10 (36.5M)
])
def test_parameter_counts_match_the_paper(depth, width, classes, expected):
    assert n_params(wide_resnet(depth, width, classes)) == expected


@pytest.mark.parametrize("name", [n for n in architecture_names() if n != "wrn-28-10"])
@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32)])
def test_every_registered_architecture_runs(name, channels, size):
    model = build_model(name, num_classes=7, in_channels=channels).eval()
    x = torch.rand(2, channels, size, size)
    logits = model(x)
    assert logits.shape == (2, 7)
    assert model.features(x).shape == (2, model.num_features)
    assert torch.allclose(model.classifier(model.features(x)), logits, atol=1e-6)


def test_replace_classifier_keeps_features():
    torch.manual_seed(0)
    model = build_model("wrn-10-1", 10, 1).eval()
    x = torch.rand(3, 1, 28, 28)
    before = model.features(x)
    model.replace_classifier(4)
    assert model(x).shape == (3, 4)
    assert torch.equal(model.features(x), before)


def test_normalization_inside_model_takes_pixels_in_unit_range():
    model = build_model("wrn-10-1", 10, 3)
    assert model.pixel_mean.shape == (1, 3, 1, 1)
    assert "pixel_mean" not in model.state_dict()  # a constant, not a weight


def test_dropout_only_in_training_and_settable():
    torch.manual_seed(0)
    model = build_model("wrn-10-1", 10, 1, dropout=0.5)
    x = torch.rand(4, 1, 28, 28)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.set_dropout(0.0)
    model.train()
    assert model.dropout == 0.0


def test_channels_last_matches_contiguous():
    torch.manual_seed(0)
    model = build_model("wrn-10-1", 10, 3).eval()
    x = torch.rand(2, 3, 32, 32)
    ref = model(x)
    model_cl = model.to(memory_format=torch.channels_last)
    out = model_cl(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(out, ref, atol=1e-5)


@pytest.mark.parametrize("kwargs,message", [
    (dict(depth=15, widen_factor=1, num_classes=10), "depth=15"),
    (dict(depth=16, widen_factor=0, num_classes=10), "widen_factor=0"),
    (dict(depth=16, widen_factor=1, num_classes=10, in_channels=2), "in_channels=2"),
    (dict(depth=16, widen_factor=1, num_classes=10, dropout=1.5), "dropout=1.5"),
    (dict(depth="16", widen_factor=1, num_classes=10), "depth='16'"),
])
def test_bad_arguments_name_the_parameter(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        wide_resnet(**kwargs)


def test_unknown_architecture_lists_the_choices():
    with pytest.raises(ValueError, match="wrn-40-2"):
        build_model("resnet-50", 10)
    assert set(ARCHITECTURES) >= {"wrn-40-2", "wrn-28-10", "wrn-16-1"}


def test_normalization_is_a_parameter_of_the_model():
    """A model built with another normalization computes the default model's
    function on the re-normalized input (issue 15, item 2)."""
    from lib.models import OFFICIAL_NORMALIZATION
    from lib.models.normalization import RGB_MEAN, RGB_STD

    torch.manual_seed(0)
    official = build_model("wrn-10-1", 10, 3, normalization=OFFICIAL_NORMALIZATION).eval()
    default = build_model("wrn-10-1", 10, 3).eval()
    default.load_state_dict({k: v for k, v in official.state_dict().items()
                             if not k.startswith("pixel_")})
    assert default.default_normalization and not official.default_normalization
    x = torch.rand(2, 3, 32, 32)
    mean, std = torch.tensor(RGB_MEAN).view(1, 3, 1, 1), torch.tensor(RGB_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(official(x), default((x - 0.5) / 0.5 * std + mean), atol=1e-5)


@pytest.mark.parametrize("normalization,message", [
    (((0.5,), (0.5,)), "in_channels=3"),
    (((0.5, 0.5, 0.5), (0.5, 0.0, 0.5)), "positive"),
    (((0.5, 0.5), (0.5, 0.5)), "one value per channel"),
])
def test_bad_normalization_names_the_problem(normalization, message):
    with pytest.raises(ValueError, match=message):
        build_model("wrn-10-1", 10, 3, normalization=normalization)
