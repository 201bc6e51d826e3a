"""The launch form (issues 19, 20, 21): fields in titled sections walked by keyboard at 80x24, the
schedule plot from the job's own schedulers redrawn as fields change, what the data path holds,
and path completion in its data fields."""

from __future__ import annotations

import math
from dataclasses import fields

import pytest
from conftest import ScreenApp, form_error, make_workbench, screen_text, wait_for
from textual.widgets import Collapsible, Input, Select
from textual.widgets._collapsible import CollapsibleTitle

from engine.train.config import TrainConfig, train_config
from engine.train.schedule_preview import lr_schedule
from tui.screens.train.launch import LaunchScreen
from tui.screens.train.launch_data import ASSUMED_UPDATES
from tui.screens.train.launch_fields import FIELDS, SECTIONS, read_fields
from tui.widgets.path_input import PathInput

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("one_thread")]


async def _form(pilot) -> LaunchScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, LaunchScreen))
    await pilot.pause(0.2)
    return pilot.app.screen


def _focused_id(app) -> str:
    focused = app.focused
    if isinstance(focused, CollapsibleTitle):
        return "title:" + focused.parent.title
    return (focused.id or "").removeprefix("launch-")


def _inside(widget, box) -> bool:
    """True when `widget` is drawn inside the visible part of the scrolling `box`."""
    region, view = widget.region, box.content_region
    return region.height > 0 and view.y <= region.y and region.bottom <= view.bottom


async def test_tab_walks_the_open_sections_fields_and_enter_opens_a_closed_one_at_80x24():
    app = ScreenApp(LaunchScreen(make_workbench("resnet18")))
    async with app.run_test(size=(80, 24)) as pilot:
        form = await _form(pilot)
        titles = [box.title for box in form.query(Collapsible)]
        assert titles == [title for title, _, _ in SECTIONS]
        data_keys = [f.key for f in SECTIONS[0][2]]
        walked = [_focused_id(app)]
        for _ in data_keys:
            await pilot.press("tab")
            walked.append(_focused_id(app))
        # the Data fields in order, then the closed section's title
        assert walked == [*data_keys, "title:Model & freezing"]
        assert "head epochs" not in screen_text(app)
        await pilot.press("enter")  # opens it: its fields come next
        await pilot.pause(0.1)
        await pilot.press("tab")
        assert _focused_id(app) == "head_epochs" and "head epochs" in screen_text(app)
        assert str(form.query_one("#launch-help").render()) == FIELDS["head_epochs"].help  # what it does
        assert "train only the head" in screen_text(app)
        scroll = form.query_one("#launch-form")
        for _ in range(12):  # on down the form: each focused field scrolls into view
            await pilot.press("tab")
            await pilot.pause(0.05)
            assert _inside(app.focused, scroll), _focused_id(app)
        assert scroll.scroll_y > 0
        await pilot.press("shift+tab")
        assert _inside(app.focused, scroll)


async def test_the_schedule_plot_redraws_from_the_jobs_schedulers_as_its_fields_change():
    app = ScreenApp(LaunchScreen(make_workbench("resnet18")))
    async with app.run_test(size=(120, 35)) as pilot:
        form = await _form(pilot)
        plot = form.query_one("#launch-schedule")
        await wait_for(pilot, lambda: bool(plot.curves))

        def expected(table: dict) -> dict[str, list[float]]:
            config = train_config(table)
            lrs = {"head": config.lr, "backbone": config.lr / 10}
            _, curves = lr_schedule(config, list(lrs.values()), ASSUMED_UPDATES)
            return dict(zip(lrs, curves, strict=True))

        assert plot.curves == expected({}) and plot.curves["head"][0] == 0.01  # cosine from lr
        assert f"lr, {ASSUMED_UPDATES} updates/epoch (assumed)" in screen_text(app)
        form.query_one("#launch-epochs", Input).focus()
        await pilot.press("backspace", "5")
        form.query_one("#launch-warmup_epochs", Input).focus()
        await pilot.press("backspace", "2")
        table = {"epochs": 5, "warmup_epochs": 2}
        await wait_for(pilot, lambda: plot.curves == expected(table))
        head = plot.curves["head"]
        assert head[0] == pytest.approx(0.01 * 0.01) and max(head) == pytest.approx(0.01)
        assert head.index(max(head)) == 2 * ASSUMED_UPDATES and plot.epochs == 5
        form.query_one("#launch-scheduler", Select).value = "step"
        await wait_for(pilot, lambda: plot.curves == expected({**table, "scheduler": "step"}))
        assert "head" in screen_text(app) and "backbone" in screen_text(app)  # the key under the plot


async def test_the_data_path_shows_what_it_holds_and_the_plot_counts_its_updates(digits, tmp_path):
    from torchvision.datasets import ImageFolder

    app = ScreenApp(LaunchScreen(make_workbench("resnet18")))
    async with app.run_test(size=(80, 24)) as pilot:
        form = await _form(pilot)
        found = form.query_one("#launch-found")
        assert not found.display  # nothing typed: no line
        form.query_one("#launch-data", Input).value = str(digits)
        await wait_for(pilot, lambda: "found:" in str(found.render()))
        reference = ImageFolder(str(digits))
        words = f"ImageFolder: {len(reference):,} images, {len(reference.classes)} classes"
        assert words in str(found.render())
        await wait_for(pilot, lambda: "found: ImageFolder:" in screen_text(app))
        updates = math.ceil(round(len(reference) * 0.8) / 32)  # 20% held out, batches of 32
        plot = form.query_one("#launch-schedule")
        await wait_for(pilot, lambda: plot.title == f"lr, {updates} updates/epoch")  # redrawn in a worker
        await wait_for(pilot, lambda: f"lr, {updates} updates/epoch" in screen_text(app))
        form.query_one("#launch-data", Input).value = str(tmp_path / "nothing")
        await wait_for(pilot, lambda: "does not exist" in screen_text(app))  # drawn, not just set
        assert found.has_class("problem")


async def test_a_detectors_form_counts_the_coco_json_as_pycocotools(tmp_path):
    import torchvision
    from pycocotools.coco import COCO

    from engine.edit.workbench import Workbench
    from engine.train.sample_coco import write_coco

    path = write_coco(tmp_path, images=4, size=64)
    model = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, num_classes=3
    )
    app = ScreenApp(LaunchScreen(Workbench(model=model, name="fasterrcnn_mobilenet_v3_large_320_fpn")))
    async with app.run_test(size=(120, 35)) as pilot:
        form = await _form(pilot)
        form.query_one("#launch-data", Input).value = str(path)
        found = form.query_one("#launch-found")
        await wait_for(pilot, lambda: "found:" in str(found.render()), timeout=30)
        coco = COCO(str(path))
        await wait_for(pilot, lambda: "found: COCO JSON:" in screen_text(app))
        text = str(found.render())
        assert f"COCO JSON: {len(coco.imgs)} images, {len(coco.anns)} annotations" in text
        assert f"{len(coco.cats)} categories ({coco.cats[min(coco.cats)]['name']}" in text


async def test_the_data_fields_complete_paths_with_tab(tmp_path):
    (tmp_path / "digits").mkdir()
    (tmp_path / "coco.json").write_text("{}")
    app = ScreenApp(LaunchScreen(make_workbench("resnet18")))
    async with app.run_test(size=(120, 35)) as pilot:
        form = await _form(pilot)
        for key, typed, completed in (
            ("data", "di", "digits/"),
            ("val_data", "co", "coco.json"),
            ("images", "di", "digits/"),
        ):
            box = form.query_one(f"#launch-{key}", Input)
            assert isinstance(box, PathInput)
            box.focus()
            box.value = f"{tmp_path}/"  # pasted; the rest typed
            box.cursor_position = len(box.value)
            await pilot.press(*typed)
            await pilot.press("tab")
            assert box.value == f"{tmp_path}/{completed}" and app.focused is box
            await pilot.press("tab")  # nothing more to complete: on to the next field
            assert app.focused is not box


async def test_every_field_writes_a_key_the_engine_takes_and_a_choice_left_alone_writes_nothing():
    known = {f.name for f in fields(TrainConfig)}
    assert {f.key for f in FIELDS.values() if f.train} <= known
    app = ScreenApp(LaunchScreen(make_workbench("resnet18")))
    async with app.run_test(size=(120, 35)) as pilot:
        form = await _form(pilot)
        assert not read_fields(form)  # nothing typed, nothing chosen: a preset may fill every key
        for box in form.query("#launch-form Input"):
            if box.id != "launch-data":
                box.value = "1"
        form.query_one("#launch-amp", Select).value = "bf16"
        form.query_one("#launch-class_balance", Select).value = "sampler"
        await pilot.pause()
        written = read_fields(form)
        assert set(written) <= known
        assert written["amp"] == "bf16" and written["class_balance"] == "sampler"
        assert "preset" not in written and "optimizer" not in written  # left on the engine's default


async def test_a_closed_section_says_how_many_of_its_fields_are_set_after_the_form_reopens():
    workbench = make_workbench("resnet18")
    app = ScreenApp(LaunchScreen(workbench))
    async with app.run_test(size=(80, 40)) as pilot:  # tall: every title on screen
        form = await _form(pilot)
        augmentation = form.query_one("#section-augmentation", Collapsible)
        assert augmentation.collapsed and augmentation.title == "Augmentation"
        form.query_one("#launch-mixup_alpha", Input).value = "0.2"
        form.query_one("#launch-auto_augment", Select).value = "ta_wide"
        await pilot.pause()
        assert augmentation.title == "Augmentation · 2 set"
        await pilot.press("escape")
        await pilot.pause()
        app.push_screen(LaunchScreen(workbench))  # t again: the typed values come back
        form = await _form(pilot)
        assert form.query_one("#section-augmentation", Collapsible).collapsed
        assert "▶ Augmentation · 2 set" in screen_text(app)
        assert form.table["mixup_alpha"] == 0.2 and form.table["auto_augment"] == "ta_wide"


async def test_preset_torchvision_in_the_form_fills_what_the_form_leaves_unset():
    workbench = make_workbench("resnet18")
    workbench.weights = "IMAGENET1K_V1"  # the weights whose recipe the preset reads
    app = ScreenApp(LaunchScreen(workbench))
    async with app.run_test(size=(120, 35)) as pilot:
        form = await _form(pilot)
        assert form.table["scheduler"] == "cosine"  # quick: today's defaults
        form.query_one("#launch-preset", Select).value = "torchvision"
        await wait_for(pilot, lambda: form.table is not None and form.table["preset"] == "torchvision")
        expected = train_config({"preset": "torchvision"}, model=workbench.recipe()["model"])
        assert form.table["scheduler"] == expected.scheduler == "step"  # resnet's recipe: StepLR
        assert form.table["lr"] == pytest.approx(expected.lr)


async def test_a_cuda_device_torch_does_not_see_is_refused_before_a_job_exists(digits, home):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: cuda is a device torch sees here")
    app = ScreenApp(LaunchScreen(make_workbench("resnet18")))
    async with app.run_test(size=(120, 35)) as pilot:
        form = await _form(pilot)
        form.query_one("#launch-data", Input).value = str(digits)
        form.query_one("#launch-device", Input).value = "cuda"
        await wait_for(pilot, lambda: form.table is not None and form.table.get("device") == "cuda")
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: "not launched" in form_error(form))
        error = form_error(form)
        assert "cuda" in error and "sees no GPU" in error
        assert not (home / "jobs").exists() or not list((home / "jobs").iterdir())


async def test_ctrl_g_estimates_one_step_of_the_forms_batch_beside_free_memory():
    app = ScreenApp(LaunchScreen(make_workbench("resnet18")))
    async with app.run_test(size=(120, 35)) as pilot:
        form = await _form(pilot)
        assert "ctrl+g estimates" in str(form.query_one("#launch-memory").render())
        form.query_one("#launch-batch_size", Input).value = "2"
        form.query_one("#launch-image_size", Input).value = "32"
        await wait_for(pilot, lambda: form.table is not None and form.table["batch_size"] == 2)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: "one step ≈" in str(form.query_one("#launch-memory").render()),
                       timeout=60)
        line = str(form.query_one("#launch-memory").render())
        assert "at batch 2" in line and "free" in line


async def test_channels_last_is_chosen_in_the_form_as_compile_is():
    app = ScreenApp(LaunchScreen(make_workbench("resnet18")))
    async with app.run_test(size=(120, 35)) as pilot:
        form = await _form(pilot)
        assert "channels_last" not in read_fields(form)  # off, the engine's default, writes nothing
        form.query_one("#launch-channels_last", Select).value = "on"
        await pilot.pause()
        assert read_fields(form)["channels_last"] is True
        assert train_config(read_fields(form) | {"data": "x"}).channels_last
