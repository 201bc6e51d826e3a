"""Issue 21: classification data as a labels CSV (path,label, paths relative to the CSV)."""

from __future__ import annotations

import shutil

import pytest
from finetune_helpers import digits_config, tiny_net

from engine.errors import BadInput
from engine.train.data import build_datasets
from engine.train.loop import Trainer, train
from engine.train.tasks.classification import ClassificationTask

pytestmark = pytest.mark.usefixtures("one_thread")


def _config(data, **extra):
    return digits_config(data, backbone_lr=0.01, **extra)


@pytest.fixture(scope="module")
def as_csv(digits, tmp_path_factory):
    """The digits ImageFolder copied under a folder with labels.csv listing it in ImageFolder's order."""
    from torchvision.datasets import ImageFolder

    root = tmp_path_factory.mktemp("csv")
    shutil.copytree(digits, root / "images")
    folder = ImageFolder(str(root / "images"))
    lines = ["path,label"] + [
        f"images/{p.split('/images/')[1]},{folder.classes[t]}" for p, t in folder.samples
    ]
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


def test_a_csv_gives_the_same_training_as_the_imagefolder_it_lists(as_csv):
    from_folder = train(tiny_net(), _config(as_csv / "images"), build_datasets(_config(as_csv / "images")))
    datasets = build_datasets(_config(as_csv / "labels.csv"))
    assert "labels.csv" in datasets.layout and datasets.classes == [f"digit_{i}" for i in range(10)]
    from_csv = train(tiny_net(), _config(as_csv / "labels.csv"), datasets)
    assert from_csv.status == from_folder.status == "done"
    for a, b in zip(from_csv.history, from_folder.history):
        assert a["train_loss"] == b["train_loss"] and a["val_acc"] == b["val_acc"]


def test_val_data_as_a_second_csv(as_csv, tmp_path):
    lines = (as_csv / "labels.csv").read_text().splitlines()
    (as_csv / "val.csv").write_text("\n".join([lines[0], *lines[1:40]]) + "\n")
    datasets = build_datasets(_config(as_csv / "labels.csv", val_data=str(as_csv / "val.csv")))
    assert len(datasets.val) == 39 and len(datasets.train) == len(lines) - 1


def test_an_unreadable_image_is_skipped_and_named(as_csv, tmp_path):
    shutil.copytree(as_csv / "images", tmp_path / "images")
    lines = (as_csv / "labels.csv").read_text().splitlines()
    broken = lines[1].split(",")[0]
    (tmp_path / broken).write_bytes(b"\x89PNG\r\n not really")
    missing = "images/digit_0/nope.png,digit_0"
    (tmp_path / "labels.csv").write_text("\n".join([*lines, missing]) + "\n")
    config = _config(tmp_path / "labels.csv", val_split=0.5, max_bad_images=0.1)
    trainer = Trainer(tiny_net(), config, build_datasets(config))
    result = trainer.run()
    assert result.status == "done"
    assert trainer.bad.count == 2
    assert {str((tmp_path / broken).resolve()), str((tmp_path / "images/digit_0/nope.png").resolve())} == set(
        trainer.bad.paths
    )


@pytest.mark.parametrize(
    "text, words",
    [
        ("file,class\na.png,x\n", ["no path and label columns", "path,label"]),
        ("path,label\n../outside.png,x\nb.png,y\n", ["outside the CSV's folder"]),
        ("path,label\n/etc/passwd,x\nb.png,y\n", ["outside the CSV's folder"]),
        ("path,label\na.png,\n", ["line 2", "empty"]),
        ("path,label\na.png,x\nb.png,x\n", ["1 class"]),
    ],
)
def test_bad_csvs_are_refused_before_a_job_exists(tmp_path, text, words):
    (tmp_path / "labels.csv").write_text(text)
    with pytest.raises(BadInput) as caught:
        ClassificationTask().check_data(_config(tmp_path / "labels.csv"))
    assert all(word in caught.value.message for word in words), caught.value.message


def test_a_missing_csv_or_a_val_csv_with_new_labels_is_refused(as_csv, tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        ClassificationTask().check_data(_config(tmp_path / "nope.csv"))
    (as_csv / "odd.csv").write_text("path,label\nimages/x.png,digit_42\n")
    with pytest.raises(BadInput, match="digit_42"):
        ClassificationTask().check_data(_config(as_csv / "labels.csv", val_data=str(as_csv / "odd.csv")))
    found = ClassificationTask().check_data(_config(as_csv / "labels.csv"))
    assert found["format"] == "CSV" and len(found["classes"]) == 10


def test_a_recipe_with_a_csv_makes_a_job_and_a_wrong_head_is_refused(home, as_csv, tmp_path):
    from finetune_helpers import write_recipe, write_tiny

    from engine.edit.recipe import load
    from engine.jobs.launch import create_job

    model = write_tiny(tmp_path)
    train_table = {"data": str(as_csv / "labels.csv"), "image_size": 12, "workers": 0}
    job = create_job(load(write_recipe(tmp_path / "ok.toml", model, train_table)))
    assert "labels.csv" in (job / "spec.toml").read_text()
    wrong = write_recipe(
        tmp_path / "bad.toml", model, train_table, edits=[{"op": "replace_head", "num_classes": 3}]
    )
    with pytest.raises(BadInput, match="10 classes"):
        create_job(load(wrong))


def test_a_csv_saved_by_excel_with_a_byte_order_mark_reads_as_python_s_csv_reads_it(as_csv):
    """Excel's "CSV UTF-8" starts with a BOM; Python's csv module reads it with utf-8-sig."""
    import csv

    from engine.train.csv_data import read_labels

    text = (as_csv / "labels.csv").read_text()
    (as_csv / "excel.csv").write_text(text, encoding="utf-8-sig")
    assert (as_csv / "excel.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    with open(as_csv / "excel.csv", encoding="utf-8-sig", newline="") as handle:
        want = [(str((as_csv / r["path"]).resolve()), r["label"]) for r in csv.DictReader(handle)]
    assert read_labels(as_csv / "excel.csv") == want == read_labels(as_csv / "labels.csv")
