"""Issue 21, CSV data: a job trained from a labels CSV is evaluated on one too
(`ptm-tui eval JOB --data val.csv`), as on an ImageFolder of the same images."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from finetune_helpers import finished_job, plain_probs

from tui.cli.main import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished tiny-CNN job on 12 px digits, and a labels CSV of the same images (labels are
    the class folders' names, paths relative to the CSV)."""
    folder = tmp_path_factory.mktemp("evalcsv")
    _checkpoint, state, digits, _model = finished_job(folder)
    images = sorted(digits.glob("*/*.png"))
    lines = ["path,label"] + [f"{p.relative_to(digits)},{p.parent.name}" for p in images]
    (digits / "labels.csv").write_text("\n".join(lines) + "\n")
    return folder / "home", state, digits


def _eval(capsys, data: Path) -> tuple[int, str, str]:
    code = main(["eval", "trained", "--data", str(data), "--json", "--trust-code"])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_eval_on_a_labels_csv_equals_eval_on_the_same_images_as_folders(trained, capsys, monkeypatch):
    home, state, digits = trained
    monkeypatch.setenv("PTM_HOME", str(home))
    code, out, err = _eval(capsys, digits / "labels.csv")
    assert code == 0, err
    from_csv = json.loads(out)
    code, out, err = _eval(capsys, digits)
    assert code == 0, err
    from_folders = json.loads(out)
    for key in ("accuracy", "images", "classes", "confusion", "per_class"):
        assert from_csv[key] == from_folders[key], key
    # the reference: the plain CNN with the checkpoint's weights and torchvision's transforms
    images = sorted(digits.glob("*/*.png"))
    right = sum(
        int(plain_probs(state["model"], p, 12).argmax()) == from_csv["classes"].index(p.parent.name)
        for p in images
    )
    assert from_csv["accuracy"] == pytest.approx(100.0 * right / len(images))


def test_a_csv_with_labels_the_job_never_saw_is_refused(trained, capsys, monkeypatch, tmp_path):
    home, _state, digits = trained
    monkeypatch.setenv("PTM_HOME", str(home))
    image = next(digits.glob("digit_3/*.png"))
    odd = digits / "odd.csv"
    odd.write_text(f"path,label\n{image.relative_to(digits)},zebra\n")
    code, _out, err = _eval(capsys, odd)
    assert code == 2 and "zebra" in err and "Traceback" not in err
    code, _out, err = _eval(capsys, digits / "missing.csv")
    assert code == 2 and "missing.csv" in err and "does not exist" in err
