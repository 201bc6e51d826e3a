"""Recipes: the DESIGN.md format round-trips, rebuilds identical weights, names bad edits."""

from __future__ import annotations

import textwrap

import pytest
import torch

from engine.edit import recipe as recipes
from engine.edit.save import save_weights
from engine.errors import BadInput

DESIGN_EXAMPLE = textwrap.dedent("""\
    [model]
    name = "alexnet"          # catalog name
    weights = "none"
    seed = 0

    [[edit]]
    op = "adapt_input"        # first conv to N input channels
    channels = 4
    strategy = "repeat"

    [[edit]]
    op = "replace_head"
    num_classes = 10

    [[edit]]
    op = "init"
    target = "classifier.6"
    method = "xavier_normal"
    params = { gain = 1.0 }

    [[edit]]
    op = "freeze"
    target = "features"

    [[edit]]
    op = "replace"
    target = "classifier.5"
    module = "GELU()"
""")


def test_design_example_loads_and_dump_round_trips():
    recipe = recipes.loads(DESIGN_EXAMPLE)
    assert recipe.model == {"name": "alexnet", "weights": "none", "seed": 0}
    assert [e["op"] for e in recipe.edits] == [
        "adapt_input",
        "replace_head",
        "init",
        "freeze",
        "replace",
    ]
    assert recipe.edits[2]["params"] == {"gain": 1.0}
    text = recipes.dumps(recipe)
    assert text.startswith('[model]\nname = "alexnet"\nweights = "none"\nseed = 0\n\n[[edit]]\n')
    assert "params = { gain = 1.0 }" in text and text.count("[[edit]]") == 5
    assert recipes.loads(text).to_dict() == recipe.to_dict()


def test_writer_escapes_and_round_trips_awkward_values():
    data = {
        "model": {"name": 'my "net"\\x', "weights": "C:\\w\n.pth", "seed": 7},
        "edit": [
            {
                "op": "init",
                "target": "",
                "method": "normal",
                "params": {"mean": -0.5, "std": 1e-3},
            }
        ],
        "train": {"epochs": 3, "lr": 0.1, "amp": True, "data": {"root": "ä/ü", "sizes": [1.5]},
                  "big": float("inf"), "odd key": [1, 2]},
    }
    recipe = recipes.from_dict(data)
    again = recipes.loads(recipes.dumps(recipe))
    assert again.to_dict() == recipe.to_dict()


@pytest.mark.parametrize(
    ("edits", "expected"),
    [
        ('[[edit]]\nop = "explode"\n', "edit 1 has unknown op 'explode'"),
        (
            '[[edit]]\nop = "freeze"\n[[edit]]\nop = "replace_head"\n',
            "edit 2 (replace_head) is missing 'num_classes'",
        ),
        ('[[edit]]\nop = "replace"\ntarget = "fc"\nmodule = "os.system(1)"\n', "edit 1 (replace)"),
        ('[[edit]]\nop = "adapt_input"\nchannels = "four"\n', "edit 1 (adapt_input)"),
    ],
)
def test_bad_edits_are_named_before_building(edits, expected):
    with pytest.raises(BadInput) as info:
        recipes.loads('[model]\nname = "resnet18"\n' + edits)
    assert expected in info.value.message
    assert info.value.exit_code == 2


def test_missing_model_table_and_bad_toml():
    with pytest.raises(BadInput, match=r"no \[model\] table"):
        recipes.loads('[[edit]]\nop = "freeze"\n')
    with pytest.raises(BadInput, match="invalid TOML"):
        recipes.loads("[model\nname = 1")


def _tensors(bench) -> dict[str, torch.Tensor]:
    return bench.model.state_dict()


@pytest.mark.slow
def test_replay_twice_gives_identical_weights_and_save_restores(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text(
        textwrap.dedent("""\
        [model]
        name = "resnet18"
        seed = 3

        [[edit]]
        op = "replace_head"
        num_classes = 5
        init = "xavier_uniform"

        [[edit]]
        op = "insert_before"
        target = "fc"
        module = "Dropout(p=0.1)"

        [[edit]]
        op = "adapt_input"
        channels = 1
        strategy = "sum"

        [[edit]]
        op = "freeze"
        target = "layer1"
    """)
    )
    first = recipes.build(recipes.load(path))
    second = recipes.build(recipes.load(path))
    a, b = _tensors(first), _tensors(second)
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    assert first.model.fc[1].out_features == 5 and first.model.conv1.in_channels == 1
    assert not any(p.requires_grad for p in first.model.layer1.parameters())
    recipes.save(first, tmp_path / "again.toml")
    third = recipes.build(recipes.load(tmp_path / "again.toml"))
    assert all(torch.equal(a[k], v) for k, v in _tensors(third).items())
    other = recipes.load(path)
    other.model["seed"] = 4
    assert not torch.equal(recipes.build(other).model.fc[1].weight, first.model.fc[1].weight)


def test_a_path_that_does_not_exist_names_the_edit(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text(
        '[model]\nname = "resnet18"\n\n[[edit]]\nop = "replace_head"\nnum_classes = 3\n'
        '\n[[edit]]\nop = "delete"\ntarget = "layer7.0"\n'
    )
    with pytest.raises(BadInput) as info:
        recipes.build(recipes.load(path))
    assert info.value.message.startswith("edit 2 (delete): no layer 'layer7.0'")


def test_relative_sources_are_found_beside_the_recipe(tmp_path, monkeypatch):
    import torchvision

    torch.manual_seed(9)
    donor = torchvision.models.resnet18(num_classes=3)
    save_weights(donor, tmp_path / "donor.pth")
    (tmp_path / "r.toml").write_text(
        '[model]\nname = "resnet18"\n\n[[edit]]\nop = "replace_head"\n'
        'num_classes = 3\n\n[[edit]]\nop = "load_partial"\n'
        'source = "donor.pth"\n'
    )
    monkeypatch.chdir(tmp_path.parent)
    bench = recipes.build(recipes.load(tmp_path / "r.toml"))
    assert torch.equal(bench.model.fc.weight, donor.fc.weight)


def test_structure_is_checked_before_any_weights_are_read(tmp_path):
    # Nothing is read or downloaded: the bad edit is found on the structure alone (meta).
    text = (
        '[model]\nname = "resnet18"\nweights = "ResNet18_Weights.IMAGENET1K_V1"\n\n'
        '[[edit]]\nop = "insert_after"\ntarget = "fc"\nmodule = "Linear(10, 10)"\n'
    )
    with pytest.raises(BadInput) as info:
        recipes.check_edits(recipes.loads(text))
    assert info.value.message.startswith("edit 1 (insert_after): shapes break at layer 'fc.1'")
    recipes.check_edits(recipes.loads(text.replace("Linear(10, 10)", "Dropout(p=0.5)")))


def test_dump_writes_atomically_and_reads_back(tmp_path):
    recipe = recipes.loads(DESIGN_EXAMPLE)
    path = recipes.dump(recipe, tmp_path / "sub" / "r.toml")
    assert [p.name for p in path.parent.iterdir()] == ["r.toml"]
    assert recipes.load(path).to_dict() == recipe.to_dict()


def test_unknown_keys_are_refused_with_the_closest_known_key():
    with pytest.raises(BadInput, match=r"\[model\] has unknown keys 'sed' \(did you mean 'seed'\?\)"):
        recipes.loads('[model]\nname = "resnet18"\nsed = 1\n')
    with pytest.raises(BadInput, match=r"edit 1 \(replace_head\) is invalid: unknown keys 'num_class'"):
        recipes.loads('[model]\nname = "resnet18"\n[[edit]]\nop = "replace_head"\nnum_classes = 3\n'
                      'num_class = 4\n')


@pytest.mark.parametrize("seed", ["-1", str(2**64), "1.5"])
def test_a_seed_torch_cannot_take_is_refused_when_the_recipe_is_read(seed):
    with pytest.raises(BadInput, match=r"model\.seed must be a whole number from 0 to 4294967295"):
        recipes.loads(f'[model]\nname = "resnet18"\nseed = {seed}\n')
