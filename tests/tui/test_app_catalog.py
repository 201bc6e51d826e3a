"""The catalog and opening models by name, with real downloads from a local HTTP server."""

from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path

import pytest
from conftest import screen_text, wait_for

from tui.app import PtmApp
from tui.screens.catalog.catalog import CatalogScreen
from tui.screens.explore.explorer import ExplorerScreen
from tui.widgets.layer_tree import LayerTree

SIZE = (100, 30)


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves files from `root`; names starting with 'slow' (or with a NAME.slow beside them)
    trickle out."""

    root: Path

    def do_GET(self) -> None:
        path = self.root / self.path.lstrip("/").split("?")[0]
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        slow = path.name.startswith("slow") or path.with_name(path.name + ".slow").exists()
        step = 1 << 16
        try:
            for start in range(0, len(data), step):
                self.wfile.write(data[start:start + step])
                if slow:
                    time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args) -> None:
        """Stay quiet."""


@pytest.fixture
def server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/served; yields its base URL."""
    served = tmp_path / "served"
    served.mkdir()
    handler = type("Handler", (_Handler,), {"root": served})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def torch_home(tmp_path, monkeypatch):
    """A private, empty weights cache."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


def _tiny_entry(url: str):
    from engine.models.catalog import ModelInfo, WeightsInfo

    weights = WeightsInfo(name="Tiny_Weights.V1", url=url, params=1000, acc1=12.5, gflops=0.1,
                          file_size_mb=1.0)
    return ModelInfo(name="tiny", task="classification", weights=[weights],
                     default_weights="Tiny_Weights.V1")


async def _catalog(pilot) -> CatalogScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CatalogScreen)
                   and pilot.app.screen.models)
    await pilot.pause()
    return pilot.app.screen


async def test_catalog_filters_as_you_type_and_enter_opens_the_explorer():
    app = PtmApp()  # weights "default", none cached: opens with random weights, no network
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await _catalog(pilot)
        assert len(screen.shown) > 100
        text = screen_text(app)
        for column in ("model", "task", "params", "acc@1", "GFLOPs", "size", "cached"):
            assert column in text
        await pilot.press(*"resnet1")
        names = [info.name for info in screen.shown]
        assert names and all("resnet1" in name for name in names)
        assert "resnet18" in names and "alexnet" not in names
        await pilot.press("down")  # from the filter box, the arrows move the table
        selected = screen.selected.name
        assert selected == names[1]
        await pilot.press("enter")
        assert any("not downloaded yet" in n.message for n in app._notifications)
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                       and app.screen.workbench is not None, timeout=60)
        assert app.screen.model_name == selected
        assert app.screen.workbench.source == "random init"
        await pilot.press("escape")  # back to the catalog, filter kept
        assert app.screen is screen and screen.query_one("#filter").value == "resnet1"


async def test_typing_reaches_the_filter_only_while_it_has_focus():
    app = PtmApp(weights="none")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _catalog(pilot)
        screen.query_one("#catalog-table").focus()
        await pilot.press(*"vit_")  # issue 19: the list's keys are the list's, not the filter's
        assert screen.query_one("#filter").value == ""
        await pilot.press("slash", *"vit_")
        assert screen.query_one("#filter").value == "vit_"
        assert all("vit_" in info.name for info in screen.shown)


async def test_download_shows_progress_marks_cached_and_never_blocks(server, torch_home):
    base, served = server
    payload = bytes(range(256)) * 4096 * 2  # 2 MiB, trickled out over about 1.6 s
    (served / "slow-tiny.pth").write_bytes(payload)
    app = PtmApp(weights="none")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await _catalog(pilot)
        from tui.messages import CatalogLoaded

        screen.on_catalog_loaded(CatalogLoaded([_tiny_entry(f"{base}/slow-tiny.pth")]))
        screen.query_one("#catalog-table").focus()
        await pilot.press("d")
        bar = screen.query_one("#download-bar")
        await wait_for(pilot, lambda: bar.done > 0)
        assert bar.total == len(payload)
        await pilot.press("slash")  # the UI answers keys while downloading
        assert screen.query_one("#filter").has_focus
        text = screen_text(app)
        assert "/ 2.0 MB" in text and "%" in text and "escape cancels" in text
        await wait_for(pilot, lambda: not bar.active, timeout=60)
        cached = torch_home / "hub" / "checkpoints" / "slow-tiny.pth"
        assert cached.read_bytes() == payload
        assert "tiny" in screen.downloaded
        await pilot.pause()
        assert "weights are in the cache" in screen_text(app)


async def test_download_can_be_cancelled_and_leaves_nothing(server, torch_home):
    base, served = server
    (served / "slow-big.pth").write_bytes(b"\0" * (32 << 20))
    app = PtmApp(weights="none")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await _catalog(pilot)
        from tui.messages import CatalogLoaded

        screen.on_catalog_loaded(CatalogLoaded([_tiny_entry(f"{base}/slow-big.pth")]))
        screen.query_one("#catalog-table").focus()
        await pilot.press("d")
        bar = screen.query_one("#download-bar")
        await wait_for(pilot, lambda: bar.done > 0)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not bar.active, timeout=30)
        await pilot.pause()
        assert "cancelled" in screen_text(app)
        assert not (torch_home / "hub" / "checkpoints" / "slow-big.pth").exists()


async def test_a_rejected_download_is_a_notification_and_the_app_keeps_running(server):
    base, served = server
    (served / "resnet18-f37072fd.pth").write_bytes(b"not the real file")
    app = PtmApp(weights="none")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await _catalog(pilot)
        from tui.messages import CatalogLoaded

        screen.on_catalog_loaded(CatalogLoaded([_tiny_entry(f"{base}/resnet18-f37072fd.pth")]))
        screen.query_one("#catalog-table").focus()
        await pilot.press("d")
        await wait_for(pilot, lambda: not screen.query_one("#download-bar").active)
        await pilot.pause()
        text = screen_text(app)
        assert "download failed" in text
        assert app.is_running and app.screen is screen
        await pilot.press("d")  # and it can try again
        assert screen._downloading == "tiny" or "download failed" in screen_text(app)


async def test_a_corrupt_weights_file_says_why_and_the_app_keeps_running(tmp_path):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    app = PtmApp(model="resnet18", weights=str(bad))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: "No weights" in screen_text(app), timeout=60)
        await pilot.pause(0.3)
        text = " ".join(screen_text(app).split())
        assert "no weights" in screen_text(app).splitlines()[0]  # the header marks it
        assert "broken.pth" in text and "truncated or corrupt" in text  # the whole reason stays
        assert "conv1" in text  # the architecture is still there to work on
        assert app.is_running
        await pilot.press("question_mark")
        assert type(app.screen).__name__ == "HelpScreen"


async def test_weights_from_a_url_download_with_progress_then_open(server, torch_home):
    import torch
    import torchvision

    base, served = server
    torch.manual_seed(1)
    model = torchvision.models.resnet18()
    torch.save(model.state_dict(), served / "my-resnet18.pth")
    app = PtmApp(model="resnet18", weights=f"{base}/my-resnet18.pth")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen)
                       and app.screen.workbench is not None, timeout=60)
        screen = app.screen
        assert screen.workbench.source == "url"
        assert torch.equal(screen.workbench.model.fc.weight, model.fc.weight)
        assert (torch_home / "hub" / "checkpoints" / "my-resnet18.pth").is_file()
        await pilot.pause()
        assert "resnet18 · url · 11.7M params" in screen_text(app)


async def test_opening_pretrained_weights_downloads_with_progress_and_escape_cancels(
        server, torch_home, monkeypatch):
    from engine.models.catalog import resolve_weights
    from engine.models.weights import file_name

    base, served = server
    monkeypatch.setenv("PTM_WEIGHTS_MIRROR", base)
    name = file_name(resolve_weights("resnet18", "default").url)
    (served / name).write_bytes(b"\0" * (32 << 20))
    (served / f"{name}.slow").touch()  # trickle it out: time to cancel
    app = PtmApp(model="resnet18", weights="default")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen))
        bar = app.screen.query_one("#download-bar")
        await wait_for(pilot, lambda: bar.active and bar.done > 0, timeout=60)
        # the bar shows on the next frame after the first bytes arrive
        await wait_for(pilot, lambda: "downloading resnet18" in screen_text(app))
        assert app.screen.query_one(LayerTree).model is not None  # the tree came first
        await pilot.press("escape")
        await wait_for(pilot, lambda: not bar.active, timeout=30)
        await pilot.pause(0.3)
        assert "cancelled" in screen_text(app).lower()
        assert app.is_running
        assert not (torch_home / "hub" / "checkpoints" / name).exists()


async def test_catalog_in_ascii_mode_draws_only_ascii(server):
    base, served = server
    (served / "slow-tiny.pth").write_bytes(b"\1" * (4 << 20))
    app = PtmApp(weights="none", ascii_only=True)
    async with app.run_test(size=(64, 24), notifications=True) as pilot:  # names are cut at 64
        screen = await _catalog(pilot)
        await pilot.press(*"fasterrcnn")
        text = screen_text(app)
        cut = [line.split()[0] for line in text.splitlines() if "..." in line]
        assert cut and all(name.startswith("fasterrcnn") and name.endswith("_fpn") for name in cut)
        from tui.messages import CatalogLoaded

        screen.query_one("#filter").value = ""
        screen.on_catalog_loaded(CatalogLoaded([_tiny_entry(f"{base}/slow-tiny.pth")]))
        screen.query_one("#catalog-table").focus()
        await pilot.press("d")
        bar = screen.query_one("#download-bar")
        await wait_for(pilot, lambda: bar.done > 0 and "%" in screen_text(app))
        text = screen_text(app)
        assert "[#" in text and "%" in text
        assert [c for c in text if ord(c) > 127] == [], [line for line in text.splitlines() if "…" in line]
        await pilot.press("escape")
        await wait_for(pilot, lambda: not bar.active)


async def test_in_the_timm_catalog_an_exact_name_is_first():
    pytest.importorskip("timm")
    app = PtmApp(weights="none")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _catalog(pilot)
        screen.action_cycle_source()  # s: timm
        await wait_for(pilot, lambda: screen.models and screen.models[0].name.startswith("timm/"),
                       timeout=60)
        await pilot.press(*"resnet18")
        await pilot.pause()
        names = [info.name for info in screen.shown]
        assert "timm/legacy_seresnet18" in names  # it matches too, and came first before
        assert screen.selected.name == "timm/resnet18"


async def test_d_in_the_weights_picker_downloads_the_highlighted_entry(server, torch_home):
    from engine.models.catalog import ModelInfo, WeightsInfo
    from tui.messages import CatalogLoaded
    from tui.screens.catalog.weights_picker import WeightsPicker

    base, served = server
    (served / "tiny-v1.pth").write_bytes(b"v1" * 1000)
    (served / "tiny-v2.pth").write_bytes(b"v2" * 2000)
    entries = [WeightsInfo(name=f"Tiny_Weights.V{i}", url=f"{base}/tiny-v{i}.pth", params=1000)
               for i in (1, 2)]
    tiny = ModelInfo(name="tiny", task="classification", weights=entries,
                     default_weights="Tiny_Weights.V1")
    app = PtmApp(weights="none")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await _catalog(pilot)
        screen.on_catalog_loaded(CatalogLoaded([tiny]))
        screen.query_one("#catalog-table").focus()
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, WeightsPicker))
        await pilot.pause()
        assert "d downloads the highlighted weights" in str(app.screen.query_one("#picker-hint").render())
        await pilot.press("down", "d")  # V2, not the default
        await wait_for(pilot, lambda: app.screen is screen)
        cached = torch_home / "hub" / "checkpoints" / "tiny-v2.pth"
        await wait_for(pilot, lambda: cached.exists() and not screen._downloading, timeout=60)
        assert cached.read_bytes() == b"v2" * 2000
        assert not (torch_home / "hub" / "checkpoints" / "tiny-v1.pth").exists()
        assert "tiny" not in screen.downloaded  # the default is still not here
