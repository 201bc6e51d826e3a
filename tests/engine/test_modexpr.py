"""Module expressions are parsed with ast against torch.nn classes and literal arguments only."""

from __future__ import annotations

import pytest
from torch import nn

from engine.edit.modexpr import allowed_classes, describe, parse_module
from engine.errors import BadInput


@pytest.mark.parametrize(
    ("text", "kind", "check"),
    [
        ("Dropout(p=0.3)", nn.Dropout, lambda m: m.p == 0.3),
        ("Linear(4096, 17)", nn.Linear, lambda m: (m.in_features, m.out_features) == (4096, 17)),
        ("nn.GELU()", nn.GELU, lambda m: m.approximate == "none"),
        ("torch.nn.GELU(approximate='tanh')", nn.GELU, lambda m: m.approximate == "tanh"),
        ("Linear(8, 2, bias=False)", nn.Linear, lambda m: m.bias is None),
        ("Conv2d(3, 8, (3, 3), padding=[1, 1])", nn.Conv2d, lambda m: m.kernel_size == (3, 3)),
        ("LeakyReLU(-0.1)", nn.LeakyReLU, lambda m: m.negative_slope == -0.1),
        ("Flatten(1, -1)", nn.Flatten, lambda m: m.end_dim == -1),
        (
            "Upsample(scale_factor=2.0, mode='nearest', align_corners=None)",
            nn.Upsample,
            lambda m: m.scale_factor == 2.0,
        ),
    ],
)
def test_literal_constructors_build_the_module(text, kind, check):
    module = parse_module(text)
    assert type(module) is kind
    assert check(module)


def test_nested_sequential_builds_its_children():
    module = parse_module("Sequential(Conv2d(3, 8, 3), ReLU(), nn.BatchNorm2d(8))")
    assert [type(m) for m in module] == [nn.Conv2d, nn.ReLU, nn.BatchNorm2d]
    assert module[0].out_channels == 8


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("__import__('os').system('echo pwned')", "__import__"),
        ("os.system('ls')", "os.system"),
        ("torch.load('x.pth')", "torch.load"),
        ("nn.init.zeros_(1)", "nn.init.zeros_"),
        ("nn.Module()", "Module"),
        ("Linear(lambda: 1, 2)", "lambda"),
        ("Linear(open('f'), 2)", "open"),
        ("Linear(2 + 3, 4)", "2 + 3"),
        ("Linear(x, 4)", "'x'"),
        ("Linear(*[1, 2])", "*[1, 2]"),
        ("Linear(**{'in_features': 1})", "**"),
        ("Linear.__init__(1, 2)", "Linear.__init__"),
        ("Linear(1, 2).__class__", "__class__"),
        ("[Linear(1, 2)]", "[Linear(1, 2)]"),
        ("getattr(nn, 'Linear')(1, 2)", "getattr"),
    ],
)
def test_anything_but_nn_constructors_is_refused_by_name(text, named):
    with pytest.raises(BadInput) as info:
        parse_module(text)
    assert named in info.value.message
    assert info.value.exit_code == 2


def test_syntax_errors_and_empty_text_are_bad_input():
    with pytest.raises(BadInput, match="syntax error"):
        parse_module("Linear(4096,")
    with pytest.raises(BadInput, match="empty"):
        parse_module("   ")


def test_wrong_arguments_name_the_class():
    with pytest.raises(BadInput) as info:
        parse_module("Linear(4096)")
    assert "Linear(4096)" in info.value.message
    assert "nn.Linear" in info.value.fix


def test_allowlist_has_layers_but_not_the_base_class():
    names = allowed_classes()
    assert {"Linear", "Conv2d", "GELU", "Dropout", "Sequential", "Identity"} <= set(names)
    assert "Module" not in names
    assert not any("Lazy" in name for name in names)


def test_describe_counts_parameters():
    assert "(40 parameters)" in describe(parse_module("Linear(4, 8)"))


def test_meta_build_checks_a_module_without_allocating_it():
    module = parse_module("Linear(30000, 30000)", device="meta")  # 3.6 GB if built for real
    assert module.weight.is_meta and module.weight.shape == (30000, 30000)


def test_a_module_of_gigabytes_is_refused_from_its_parameter_count():
    with pytest.raises(BadInput) as caught:
        parse_module("Linear(100000, 100000)")  # 40 GB: counted on meta, never allocated
    count = sum(p.numel() for p in nn.Linear(100000, 100000, device="meta").parameters())
    assert f"{count:,} parameters" in caught.value.message and "40.0 GB" in caught.value.message
    assert parse_module("Linear(100, 100)").weight.device.type == "cpu"  # small ones are built


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
def test_a_module_that_would_take_hours_to_build_is_refused_in_seconds():
    import time

    start = time.perf_counter()
    with pytest.raises(BadInput) as caught:
        parse_module("LSTM(1, 1, num_layers=200000000)")
    assert time.perf_counter() - start < 30
    assert "would take too long" in caught.value.message and "fewer layers" in caught.value.fix
    big = parse_module("Transformer(num_encoder_layers=48, num_decoder_layers=48)", device="meta")
    assert sum(p.numel() for p in big.parameters()) == sum(
        p.numel() for p in nn.Transformer(num_encoder_layers=48, num_decoder_layers=48,
                                          device="meta").parameters())
