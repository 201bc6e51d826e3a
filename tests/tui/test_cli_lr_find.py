"""`ptm-tui lr-find RECIPE`: the curve as JSON or a plot, the suggestion, and bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from finetune_helpers import write_recipe, write_tiny

from engine.train.sample_data import write_digits
from tui.cli.main import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("lr")
    digits = write_digits(folder / "digits", size=12, limit=400)
    return write_recipe(folder / "r.toml", write_tiny(folder),
                        {"data": str(digits), "image_size": 12, "batch_size": 32, "workers": 0,
                         "optimizer": "adam", "lr": 0.01})


def test_json_has_the_curve_and_the_suggestion(recipe, capsys):
    assert main(["lr-find", str(recipe), "--steps", "40", "--start", "1e-5", "--end", "100",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["lrs"]) == len(result["losses"]) <= 40
    assert result["lrs"][0] == pytest.approx(1e-5)
    assert result["lrs"] == sorted(result["lrs"])
    assert result["suggestion"] is None or result["lrs"][0] <= result["suggestion"] <= result["lrs"][-1]
    assert result["stopped"] in ("diverged", "end of range")
    assert result["min_over_10"] == pytest.approx(result["min_loss_lr"] / 10)


def test_human_output_plots_the_curve_and_names_both_rules(recipe, capsys):
    assert main(["lr-find", str(recipe), "--steps", "30", "--start", "1e-5", "--end", "100"]) == 0
    out = capsys.readouterr().out
    assert "learning-rate range test" in out and "learning rate (log)" in out
    assert "min/10 rule" in out
    assert "x0.1" in out  # the backbone's lr/10 is kept during the sweep, and said


def test_a_bad_range_exits_2_with_the_fix(recipe, capsys):
    assert main(["lr-find", str(recipe), "--start", "1", "--end", "0.001"]) == 2
    err = capsys.readouterr().err
    assert "cannot sweep the lr from 1 to 0.001" in err and "--start 1e-7 --end 10" in err
