"""Issue 11 in the TUI: a finetune's checkpoint, opened as MODEL or loaded with `W`, predicts
with the folder's class names and the training's preprocessing (as plain torch at 12 px does)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import screen_text, wait_for
from textual.widgets import Input

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))  # finetune_helpers
from finetune_helpers import finished_job, plain_probs

from tui.app import PtmApp
from tui.screens.explore.explorer import ExplorerScreen
from tui.screens.use.predict import PredictScreen

pytestmark = pytest.mark.timeout(300)
SIZE = (100, 34)
TRAINED = 12


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    return finished_job(tmp_path_factory.mktemp("job"), size=TRAINED)


def _plain_top(state_dict, image) -> tuple[int, float]:
    """The reference: the checkpoint's weights in plain torch at the training size."""
    probs = plain_probs(state_dict, image, TRAINED)
    return int(probs.argmax()), float(probs.max())


async def _predict(pilot, image: Path) -> PredictScreen:
    await pilot.press("p")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PredictScreen))
    screen = pilot.app.screen
    field = screen.query_one("#predict-path", Input)
    field.value = str(image)
    field.focus()
    await pilot.press("enter")
    await wait_for(pilot, lambda: screen.result is not None, timeout=60)
    await pilot.pause()
    return screen


def _check_top(app, screen: PredictScreen, job, image: Path) -> None:
    _, state, digits, _ = job
    classes = sorted(p.name for p in digits.iterdir())
    index, prob = _plain_top(state["model"], image)
    top = screen.result["top"][0]
    assert top["label"] == classes[index] and top["prob"] == pytest.approx(prob, abs=1e-5)
    text = screen_text(app)
    assert f"{top['prob']:.2%}" in text and classes[index] in text
    assert "the training's preprocessing (12 px, bilinear)" in text


async def test_a_checkpoint_opened_as_the_model_predicts_as_trained(job):
    checkpoint, _, digits, _ = job
    image = sorted((digits / "digit_7").iterdir())[0]
    app = PtmApp(model=str(checkpoint), trust_code=True)  # its recipe names tiny.py
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                       and app.screen.workbench is not None, timeout=60)
        await pilot.pause()
        assert f"loaded {checkpoint.name}" in screen_text(app).splitlines()[0]
        _check_top(app, await _predict(pilot, image), job, image)


async def test_W_of_a_checkpoint_brings_its_class_names_and_preprocessing(job):
    from engine.edit.workbench import Workbench

    checkpoint, _, digits, model = job
    workbench = Workbench.open(model, weights="none")
    workbench.apply({"op": "replace_head", "num_classes": 10})
    image = sorted((digits / "digit_3").iterdir())[0]
    app = PtmApp(workbench=workbench)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen), timeout=60)
        explorer = app.screen
        await pilot.press("W")
        await wait_for(pilot, lambda: app.screen.query("#source"))
        app.screen.query_one("#source", Input).value = str(checkpoint)
        await pilot.press("enter")
        await wait_for(pilot, lambda: workbench.meaning is not None, timeout=30)
        await pilot.pause()
        preview = str(app.screen.query_one("#preview").render())
        assert "the file says: 10 classes (digit_0, digit_1, digit_2, ...); 12 px input" in preview
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is explorer)
        _check_top(app, await _predict(pilot, image), job, image)


async def test_o_on_the_jobs_screen_opens_the_job_as_trained(job, monkeypatch):
    from tui.screens.jobs.jobs import JobsScreen

    checkpoint, _, digits, _ = job
    monkeypatch.setenv("PTM_HOME", str(checkpoint.parents[3]))  # home/jobs/trained/checkpoints
    image = sorted((digits / "digit_1").iterdir())[0]
    app = PtmApp(trust_code=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await app.push_screen(JobsScreen())
        await wait_for(pilot, lambda: "trained" in screen_text(app), timeout=30)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                       and app.screen.workbench is not None, timeout=60)
        await pilot.pause()
        header = screen_text(app).splitlines()[0]
        assert header.startswith(" trained · ") and "· loaded epoch-" in header
        _check_top(app, await _predict(pilot, image), job, image)
