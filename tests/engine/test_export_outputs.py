"""Exported files give back what the model returns: a tensor stays a tensor, a dict keeps its
keys (TorchScript) or names its outputs after them (ONNX)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.use.export import export_model

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")


class TwoHeads(nn.Module):
    """A small segmentation-like model: {"out": ..., "aux": ...} as torchvision's FCN returns."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.aux = nn.Conv2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": self.conv(x), "aux": self.aux(x)}


def _model() -> nn.Module:
    torch.manual_seed(0)
    return TwoHeads().eval()


def test_torchscript_keeps_a_dict_output_and_a_classifier_s_tensor(tmp_path):
    model = _model()
    export_model(model, "torchscript", tmp_path / "seg.pt", [1, 3, 8, 8])
    x = torch.randn(3, 3, 8, 8)
    got = torch.jit.load(str(tmp_path / "seg.pt"))(x)
    assert isinstance(got, dict) and list(got) == ["out", "aux"]
    with torch.no_grad():
        want = model(x)
    assert all(torch.allclose(got[k], want[k], atol=1e-6) for k in want)
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(12, 5)).eval()
    export_model(classifier, "torchscript", tmp_path / "cls.pt", [1, 3, 2, 2])
    assert isinstance(torch.jit.load(str(tmp_path / "cls.pt"))(torch.randn(2, 3, 2, 2)), torch.Tensor)


def test_onnx_outputs_are_named_after_the_model_s_output(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    model = _model()
    export_model(model, "onnx", tmp_path / "seg.onnx", [1, 3, 8, 8])
    session = onnxruntime.InferenceSession(str(tmp_path / "seg.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["out", "aux"]
    x = torch.randn(1, 3, 8, 8)
    out, aux = session.run(["out", "aux"], {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        want = model(x)
    assert torch.allclose(torch.from_numpy(out), want["out"], atol=1e-5)
    assert torch.allclose(torch.from_numpy(aux), want["aux"], atol=1e-5)
