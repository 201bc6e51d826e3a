"""`ptm-tui predict`, `actmap` and `graph` as a user runs them (random weights, made-up images)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tui.cli.main import main


@pytest.fixture
def images(tmp_path):
    """Two generated images of different sizes."""
    paths = []
    for i, size in enumerate([(160, 120), (90, 90)]):
        pixels = np.random.default_rng(i).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        path = tmp_path / f"img{i}.png"
        Image.fromarray(pixels).save(path)
        paths.append(str(path))
    return paths


def test_predict_json_one_object_per_image_with_names(images, capsys):
    code = main(["predict", "resnet18", *images, "--weights", "none", "--topk", "3", "--json",
                 "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 0
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [obj["image"] for obj in lines] == images
    import torchvision

    names = torchvision.models.ResNet18_Weights.DEFAULT.meta["categories"]
    for obj in lines:
        probs = [item["prob"] for item in obj["top"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True)
        assert all(item["label"] == names[item["index"]] for item in obj["top"])
    assert "random weights" in captured.err and "ResNet18_Weights" in captured.err


def test_predict_human_output_shows_labels_and_percentages(images, capsys):
    assert main(["predict", "alexnet", images[0], "--weights", "none", "--topk", "2",
                 "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert images[0] in out and out.count("%") == 2 and "█" in out


def test_predict_missing_image_is_bad_input(tmp_path, capsys):
    assert main(["predict", "resnet18", str(tmp_path / "nope.png"), "--weights", "none"]) == 2
    err = capsys.readouterr().err
    assert "no image at" in err and "fix:" in err


def test_predict_detection_model_json_and_drawing(images, tmp_path, capsys):
    out = tmp_path / "drawn.png"
    code = main(["predict", "fasterrcnn_mobilenet_v3_large_320_fpn", images[0], "--weights",
                 "none", "--min-score", "0", "--json", "--out", str(out), "--device", "cpu"])
    assert code == 0
    [obj] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert obj["image"] == images[0] and isinstance(obj["detections"], list)
    assert all({"label", "index", "score", "box"} <= set(d) for d in obj["detections"])
    with Image.open(out) as drawn:
        assert drawn.size == (160, 120)


def test_predict_out_on_a_classifier_is_refused(images, tmp_path, capsys):
    code = main(["predict", "resnet18", images[0], "--weights", "none", "--out",
                 str(tmp_path / "x.png"), "--device", "cpu"])
    assert code == 2 and "does not detect objects" in capsys.readouterr().err


def test_actmap_writes_pngs_and_grid(images, tmp_path, capsys):
    out = tmp_path / "maps"
    code = main(["actmap", "resnet18", images[0], "--weights", "none", "--out", str(out),
                 "--layers", "layer1,layer3", "--json", "--device", "cpu"])
    assert code == 0
    obj = json.loads(capsys.readouterr().out)
    assert [p.rsplit("/", 1)[1] for p in obj["files"]] == ["layer1.png", "layer3.png", "grid.png"]
    for name in ("layer1.png", "layer3.png"):
        with Image.open(out / name) as png:
            assert png.size == (160, 120)


def test_actmap_default_layers_of_alexnet(images, tmp_path, capsys):
    assert main(["actmap", "alexnet", images[1], "--weights", "none", "--out",
                 str(tmp_path / "a"), "--device", "cpu"]) == 0
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(["features.1.png", "features.4.png", "features.7.png",
                            "features.9.png", "features.11.png", "grid.png"])
    assert "wrote 5 activation map(s)" in capsys.readouterr().out


def test_actmap_unknown_layer_is_bad_input(images, tmp_path, capsys):
    assert main(["actmap", "resnet18", images[0], "--weights", "none", "--out",
                 str(tmp_path / "m"), "--layers", "layer7"]) == 2
    assert "no layer 'layer7'" in capsys.readouterr().err


def test_graph_writes_dot_source(tmp_path, capsys):
    out = tmp_path / "alexnet.dot"
    assert main(["graph", "alexnet", "--out", str(out), "--input-size", "1,3,96,96",
                 "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["dot"] == str(out) and obj["rendered"] is None and obj["nodes"] > 20
    assert out.read_text().startswith("digraph")


@pytest.mark.skipif(shutil.which("dot") is not None, reason="Graphviz's dot is installed here")
def test_graph_without_dot_exits_1_with_install_hint_and_dot_written(tmp_path, capsys):
    out = tmp_path / "g.pdf"
    assert main(["graph", "alexnet", "--out", str(out), "--input-size", "1,3,96,96"]) == 1
    err = capsys.readouterr().err
    assert "apt-get install graphviz" in err and "brew install graphviz" in err
    assert f"dot -Tpdf {tmp_path / 'g.dot'} -o {out}" in err.replace("\n", "")
    assert "Traceback" not in err
    assert (tmp_path / "g.dot").read_text().startswith("digraph")
    assert not out.exists()


@pytest.mark.slow
def test_graph_exit_code_from_a_real_process(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tui.cli.main", "graph", "alexnet", "--out",
                           str(tmp_path / "g.svg"), "--input-size", "1,3,96,96"],
                          capture_output=True, text=True, timeout=300, check=False)
    expected = 0 if shutil.which("dot") else 1
    assert done.returncode == expected, done.stderr
    assert (tmp_path / "g.dot").exists() and "Traceback" not in done.stderr


def test_predict_with_a_weights_file_names_classes_from_the_default_weights(images, tmp_path,
                                                                            capsys):
    import torch
    import torchvision

    torch.manual_seed(3)
    path = tmp_path / "mine.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    assert main(["predict", "resnet18", images[0], "--weights", str(path), "--json",
                 "--topk", "1", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    [obj] = [json.loads(line) for line in captured.out.splitlines()]
    names = torchvision.models.ResNet18_Weights.DEFAULT.meta["categories"]
    assert obj["top"][0]["label"] == names[obj["top"][0]["index"]]
    assert "carry no category names" in captured.err


def test_predict_refuses_a_folder_a_bad_min_score_and_a_bad_device(images, tmp_path, capsys):
    base = ["predict", "resnet18", "--weights", "none"]
    assert main([*base, str(tmp_path)]) == 2
    assert "is a folder, not an image" in capsys.readouterr().err
    assert main([*base, images[0], "--min-score", "2"]) == 2
    assert "--min-score must be between 0 and 1" in capsys.readouterr().err
    assert main([*base, images[0], "--device", "bogus"]) == 2
    err = capsys.readouterr().err
    assert "unknown device 'bogus'" in err and "Traceback" not in err


def test_actmap_unwritable_out_or_empty_layers_exit_2_and_write_nothing(images, tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    base = ["actmap", "resnet18", images[0], "--weights", "none", "--device", "cpu"]
    assert main([*base, "--out", str(blocker / "maps")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "maps"), "--layers", ","]) == 2
    assert "names no layer" in capsys.readouterr().err
    assert not (tmp_path / "maps").exists()


def test_graph_refuses_an_unknown_suffix_and_a_folder(tmp_path, capsys):
    assert main(["graph", "resnet18", "--out", str(tmp_path / "g.xyz")]) == 2
    assert "cannot tell the graph format of 'g.xyz'" in capsys.readouterr().err
    assert main(["graph", "resnet18", "--out", str(tmp_path)]) == 2
    assert "it is a folder, not a file" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
