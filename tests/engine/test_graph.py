"""Graph export: the .dot source always, a rendered file with Graphviz, clear words without."""

from __future__ import annotations

import shutil

import pytest
import torch
import torchvision

from engine.errors import BadInput
from engine.inspect.graph import GraphvizMissing, export_graph, format_for, make_graph

DOT = shutil.which("dot")


@pytest.fixture(scope="module")
def alexnet() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.alexnet().eval()


def test_dot_source_names_the_layers(alexnet, tmp_path):
    files = export_graph(alexnet, tmp_path / "alexnet.dot", input_size=(1, 3, 96, 96))
    text = files.dot_path.read_text()
    assert files.rendered is None and text.startswith("digraph")
    assert "features.0.weight" in text and "classifier.6.bias" in text
    assert "ConvolutionBackward" in text and files.nodes > 20
    assert [p.name for p in tmp_path.iterdir()] == ["alexnet.dot"]  # no temp files left


@pytest.mark.skipif(DOT is not None, reason="Graphviz's dot is installed here")
def test_missing_dot_writes_the_source_and_says_how_to_install(alexnet, tmp_path, monkeypatch):
    with pytest.raises(GraphvizMissing) as raised:
        export_graph(alexnet, tmp_path / "g.pdf", input_size=(1, 3, 96, 96))
    error = raised.value
    assert error.exit_code == 1
    assert "apt-get install graphviz" in error.message and "brew install graphviz" in error.message
    assert (tmp_path / "g.dot").read_text().startswith("digraph")
    assert not (tmp_path / "g.pdf").exists()


def test_missing_dot_even_when_installed_elsewhere(alexnet, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(GraphvizMissing, match="dot -Tsvg"):
        export_graph(alexnet, tmp_path / "g.svg", input_size=(1, 3, 96, 96))
    assert (tmp_path / "g.dot").exists()


@pytest.mark.skipif(DOT is None, reason="Graphviz's dot is not installed here")
@pytest.mark.parametrize("fmt, magic", [("svg", b"<?xml"), ("png", b"\x89PNG"), ("pdf", b"%PDF")])
def test_rendering_with_dot(alexnet, tmp_path, fmt, magic):
    files = export_graph(alexnet, tmp_path / f"g.{fmt}", input_size=(1, 3, 96, 96))
    assert files.rendered == tmp_path / f"g.{fmt}"
    assert files.rendered.read_bytes().startswith(magic)


def test_format_from_suffix_or_flag():
    assert format_for("x.svg", None) == "svg"
    assert format_for("x", None) == "pdf"
    assert format_for("x.pdf", "png") == "png"
    with pytest.raises(BadInput, match="graph format"):
        format_for("x", "gif")


def test_detection_models_graph_their_outputs():
    torch.manual_seed(0)
    model = torchvision.models.get_model("fasterrcnn_mobilenet_v3_large_320_fpn", weights=None,
                                         weights_backbone=None, min_size=96, max_size=96).eval()
    graph = make_graph(model, (1, 3, 96, 96))
    assert "backbone.body.0.0.weight" in graph.source
