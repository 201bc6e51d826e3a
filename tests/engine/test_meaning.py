"""Issue 11: a finetuned model knows what it is wherever its weights go: loaded with `W`, saved
with ctrl+s or `replay --out`, reopened by path. Checked against plain torch at the training size."""

from __future__ import annotations

import json

import pytest
import torch
from finetune_helpers import TinyNet, finished_job, plain_probs

from engine.edit.save import save_weights
from engine.edit.workbench import Workbench
from engine.errors import BadInput
from engine.jobs.trained import open_trained
from engine.models.weights import read_meaning
from engine.use.inference import meaning_of, predict_ready, workbench_ready

pytestmark = pytest.mark.timeout(300)
SIZE = 12


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    return finished_job(tmp_path_factory.mktemp("job"), size=SIZE)


def _plain_probs(state_dict, image) -> torch.Tensor:
    return plain_probs(state_dict, image, SIZE)


def _loaded(job) -> Workbench:
    """The tiny CNN opened with random weights, its head made 10 wide, the checkpoint loaded (W)."""
    checkpoint, _, _, model = job
    workbench = Workbench.open(model, weights="none")
    workbench.apply({"op": "replace_head", "num_classes": 10})
    workbench.apply({"op": "load_partial", "source": str(checkpoint)})
    return workbench


def test_a_loaded_checkpoint_brings_its_class_names_and_preprocessing_and_undo_takes_them(job):
    _, _, digits, _ = job
    classes = sorted(p.name for p in digits.iterdir())
    workbench = _loaded(job)
    opened = workbench_ready(workbench)
    assert opened.categories == classes and opened.labels_note is None
    assert opened.preprocess.input_size == SIZE
    assert opened.preprocess.source == "the training's preprocessing (12 px, bilinear)"

    workbench.undo()  # the load goes, and what it said goes with it
    opened = workbench_ready(workbench)
    assert opened.categories is None and "class indices" in opened.labels_note
    assert opened.preprocess.input_size == 224
    workbench.redo()
    assert workbench_ready(workbench).categories == classes


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_a_saved_model_stays_plain_weights_and_predicts_as_trained(job, tmp_path, suffix, capsys):
    from tui.cli.main import main

    _, state, digits, _ = job
    classes = sorted(p.name for p in digits.iterdir())
    workbench = _loaded(job)
    out = save_weights(workbench.model, tmp_path / f"mine{suffix}", meaning_of(workbench))

    if suffix == ".pth":  # plain torch reads it as the state dict it is
        plain = torch.load(out, weights_only=True)
    else:
        from safetensors.torch import load_file

        plain = load_file(out)
    reference = TinyNet(10)
    reference.load_state_dict(plain)  # strict: nothing extra, nothing missing
    assert all(torch.equal(plain[k], v) for k, v in state["model"].items())

    meaning = read_meaning(out)
    assert meaning["classes"] == classes and meaning["input_size"] == [3, SIZE, SIZE]
    assert [e["op"] for e in meaning["recipe"]["edit"]] == ["replace_head", "load_partial"]

    images = [sorted((digits / f"digit_{k}").iterdir())[0] for k in (3, 7)]
    opened = open_trained(str(out), trust_code=True)  # rebuilt from the recipe inside the file
    for result, image in zip(predict_ready(opened, images, topk=3), images):
        want = _plain_probs(state["model"], image).topk(3)
        assert [t["label"] for t in result["top"]] == [classes[i] for i in want.indices.tolist()]
        assert [t["prob"] for t in result["top"]] == pytest.approx(want.values.tolist(), abs=1e-5)

    assert main(["predict", str(out), str(images[0]), "--json", "--device", "cpu", "--trust-code"]) == 0
    top = json.loads(capsys.readouterr().out)["top"][0]
    assert top["label"] == classes[int(_plain_probs(state["model"], images[0]).argmax())]


def test_replay_out_writes_the_recipe_into_the_weights(job, tmp_path, capsys):
    from engine.edit.recipe import Recipe, dumps
    from tui.cli.main import main

    _, _, _, model = job
    recipe = tmp_path / "r.toml"
    recipe.write_text(dumps(Recipe(model={"name": model, "weights": "none", "seed": 3},
                                   edits=[{"op": "replace_head", "num_classes": 4}])))
    out = tmp_path / "r.safetensors"
    assert main(["replay", str(recipe), "--out", str(out)]) == 0
    capsys.readouterr()
    meaning = read_meaning(out)
    assert meaning["recipe"]["edit"] == [{"op": "replace_head", "num_classes": 4}]
    reopened = open_trained(str(out), trust_code=True).model  # the recipe names tiny.py
    assert reopened.fc.out_features == 4
    x = torch.randn(2, 3, 32, 32)
    from engine.edit.recipe import build, load

    with torch.no_grad():
        assert torch.allclose(reopened(x), build(load(recipe)).model.eval()(x))


def test_weights_that_do_not_say_their_model_are_refused_with_the_way_on(tmp_path):
    torch.save(TinyNet(10).state_dict(), tmp_path / "bare.pth")
    assert read_meaning(tmp_path / "bare.pth") is None
    with pytest.raises(BadInput) as caught:
        open_trained(str(tmp_path / "bare.pth"))
    assert "does not say which model it belongs to" in str(caught.value)
    assert "ctrl+s" in caught.value.fix


def test_exporting_a_loaded_checkpoint_writes_its_class_names_and_input_size(job, tmp_path):
    from engine.train.export_source import from_workbench
    from engine.use.export import export_model

    _, state, digits, _ = job
    classes = sorted(p.name for p in digits.iterdir())
    source = from_workbench(_loaded(job), "none")  # what X in the explorer exports
    assert source.input_shape == [1, 3, SIZE, SIZE]
    assert source.preprocessing["resize"] == [SIZE, SIZE] and source.preprocessing["crop"] is None
    out = tmp_path / "trained.safetensors"
    export_model(source.model, "safetensors", out, source.input_shape, source.metadata())
    meaning = read_meaning(out)  # an export's metadata reads back as a meaning
    assert meaning["classes"] == classes and meaning["input_size"] == [3, SIZE, SIZE]
    image = sorted((digits / "digit_5").iterdir())[0]
    from engine.use.inference import ready

    opened = ready(TinyNet(10).eval(), "tiny", meaning=meaning)
    opened.model.load_state_dict(state["model"])
    [result] = predict_ready(opened, [image], topk=1)
    want = _plain_probs(state["model"], image)
    assert result["top"][0]["label"] == classes[int(want.argmax())]
    assert result["top"][0]["prob"] == pytest.approx(float(want.max()), abs=1e-5)


def test_a_meaning_with_odd_values_still_leaves_a_file_plain_torch_reads(tmp_path):
    from pathlib import Path

    meaning = {"recipe": {"model": {"name": "x"}, "edit": [{"op": "load_partial",
                                                             "source": Path("/w.pth")}]},
               "dtype": torch.float16}
    for suffix in (".pth", ".safetensors"):
        out = save_weights(TinyNet(10), tmp_path / f"odd{suffix}", meaning)
        said = read_meaning(out)
        assert said["recipe"]["edit"][0]["source"] == "/w.pth"
        assert "dtype" not in said  # a key no tool reads is left out, not passed on unchecked
    TinyNet(10).load_state_dict(torch.load(tmp_path / "odd.pth", weights_only=True))


def test_opening_a_model_with_a_saved_file_knows_what_the_file_says(job, tmp_path):
    _, _, digits, model = job
    classes = sorted(p.name for p in digits.iterdir())
    loaded = _loaded(job)
    out = save_weights(loaded.model, tmp_path / "mine.safetensors", meaning_of(loaded))
    opened = Workbench.open(model, weights=str(out))  # as `ptm-tui MODEL --weights FILE`
    assert opened.meaning["classes"] == classes
    assert workbench_ready(opened).preprocess.input_size == SIZE


def test_a_file_that_is_not_weights_is_named_as_such_not_as_a_model_without_a_recipe(tmp_path):
    (tmp_path / "notes.safetensors").write_text("hello\n")
    with pytest.raises(BadInput) as caught:
        open_trained(str(tmp_path / "notes.safetensors"))
    assert "cannot read weights from" in str(caught.value)
    assert "does not say which model" not in str(caught.value)
