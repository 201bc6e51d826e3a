"""Using a finetuned detector and segmenter: predict at the trained image size, export (TorchScript
scripted; torch.export and ONNX refused with the reason) and activation maps, through the CLI."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from finetune_helpers import segmenter_recipe, write_recipe
from task_models import tiny_detector

from engine.errors import BadInput
from engine.train.sample_coco import write_coco

try:
    from tests.helpers.cli import ptm
except ImportError:  # tests/ itself is on sys.path
    from helpers.cli import ptm

pytestmark = pytest.mark.timeout(300)
MODELS = Path(__file__).with_name("task_models.py").resolve()
TRAINED_AT = 48
"""The detector's own size is 64 (task_models.SMALL); the job trains it at 48."""


def _cli(home: Path, *args: str):
    return ptm(*args, env={"PTM_HOME": str(home), "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def det_job(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A finished detection job (tiny Faster R-CNN at image_size 48): (home, job folder, image)."""
    root = tmp_path_factory.mktemp("det")
    data = write_coco(root, images=8, size=64)
    train = {
        "data": str(data),
        "val_split": 0.25,
        "image_size": TRAINED_AT,
        "epochs": 1,
        "batch_size": 4,
        "workers": 0,
    }
    recipe = write_recipe(root / "det.toml", f"{MODELS}:tiny_detector", train, edits=[])
    done = _cli(root / "home", "finetune", str(recipe), "--job-id", "det", "--json")
    assert done.returncode == 0, done.stderr
    return root / "home", root / "home" / "jobs" / "det", root / "images" / "train_0001.png"


def _reference(job: Path, image: Path, side: int) -> dict[str, torch.Tensor]:
    """Plain torchvision: the job's weights in the tiny detector, run at `side` px."""
    import torchvision.transforms.functional as F
    from PIL import Image

    checkpoint = sorted((job / "checkpoints").glob("epoch-*.pt"))[-1]  # the newest, as predict reads
    model = tiny_detector()
    model.load_state_dict(torch.load(checkpoint, weights_only=True)["model"])
    model.transform.min_size, model.transform.max_size = (side,), side
    with torch.no_grad():
        return model.eval()([F.to_tensor(Image.open(image).convert("RGB"))])[0]


def _top_boxes(found: dict[str, torch.Tensor], n: int) -> torch.Tensor:
    return found["boxes"][found["scores"].argsort(descending=True)[:n]]


@pytest.mark.slow
def test_predict_runs_the_detector_at_its_trained_size(det_job):
    home, job, image = det_job
    said = _cli(
        home, "predict", "det", str(image), "--json", "--min-score", "0", "--topk", "5", "--trust-code"
    )
    assert said.returncode == 0, said.stderr
    boxes = torch.tensor([d["box"] for d in json.loads(said.stdout)["detections"]])
    at_48, at_64 = _reference(job, image, TRAINED_AT), _reference(job, image, 64)
    assert len(boxes) == 5
    assert torch.allclose(boxes, _top_boxes(at_48, 5), atol=0.01)
    assert not torch.allclose(_top_boxes(at_64, 5), _top_boxes(at_48, 5), atol=0.5)  # the size matters


@pytest.mark.slow
def test_export_scripts_a_detector_and_refuses_formats_that_cannot_hold_it(det_job, tmp_path):
    home, job, image = det_job
    out = tmp_path / "det.pt"
    done = _cli(home, "export", "det", "--out", str(out), "--json", "--trust-code")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["max_abs_diff"] <= 1e-4
    import torchvision  # noqa: F401  (its nms op, which the scripted detector calls)
    import torchvision.transforms.functional as F
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.load(str(out))
        _losses, (found,) = scripted([F.to_tensor(Image.open(image).convert("RGB"))])
    assert scripted.transform.min_size == (TRAINED_AT,)
    assert torch.allclose(found["boxes"], _reference(job, image, TRAINED_AT)["boxes"], atol=1e-4)
    refused = _cli(home, "export", "det", "--out", str(tmp_path / "det.onnx"), "--trust-code")
    assert refused.returncode == 2, refused.stderr  # ONNX here goes through torch.export
    assert "is a detector" in refused.stderr and "--format torchscript" in refused.stderr
    assert not (tmp_path / "det.onnx").exists()


def test_torch_export_is_refused_for_a_detector_before_anything_is_written(tmp_path):
    from engine.use.export import export_model

    with pytest.raises(BadInput) as caught:
        export_model(tiny_detector(), "exported", tmp_path / "d.pt2", [1, 3, 64, 64])
    assert "number of boxes" in caught.value.why and "torchscript" in caught.value.fix
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_activation_maps_of_a_finetuned_detector(det_job, tmp_path):
    home, _job, image = det_job
    done = _cli(home, "actmap", "det", str(image), "--out", str(tmp_path / "maps"), "--json", "--trust-code")
    assert done.returncode == 0, done.stderr
    files = [Path(f) for f in json.loads(done.stdout)["files"]]
    assert files and all(f.is_file() and f.parent == tmp_path / "maps" for f in files)


@pytest.mark.slow
def test_a_finetuned_segmenter_exports_and_maps(tmp_path):
    """LRASPP finetuned on masks: TorchScript keeps its output; actmap draws its stages."""
    root, recipe = segmenter_recipe(tmp_path, images=6)
    home = tmp_path / "home"
    assert _cli(home, "finetune", str(recipe), "--job-id", "seg", "--json").returncode == 0
    done = _cli(home, "export", "seg", "--out", str(tmp_path / "seg.pt"), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["input_shape"] == [-1, 3, 48, 48]
    assert json.loads(report["metadata"]["class_names"]) == ["background", "rectangle", "ellipse"]
    image = root / "val" / "images" / "0000.png"
    maps = _cli(home, "actmap", "seg", str(image), "--out", str(tmp_path / "maps"), "--json")
    assert maps.returncode == 0, maps.stderr
    assert all(Path(f).is_file() for f in json.loads(maps.stdout)["files"])
