"""Images become the model's input channels (after adapt_input): grayscale as torchvision makes
it, in predictions and in training alike."""

from __future__ import annotations

import torch
import torchvision.transforms.functional as F
from finetune_helpers import tiny_net
from PIL import Image

from engine.edit.workbench import Workbench
from engine.train.config import train_config
from engine.train.data import build_datasets
from engine.train.loop import train
from engine.use.channels import input_channels, match_channels
from engine.use.inference import predict, workbench_ready
from engine.use.preprocess import Preprocess


def test_three_to_one_is_torchvisions_grayscale_and_more_channels_repeat():
    torch.manual_seed(0)
    image = torch.rand(3, 5, 7)
    assert torch.allclose(match_channels(image, 1), F.rgb_to_grayscale(image), atol=1e-6)
    four = match_channels(image, 4)
    assert four.shape == (4, 5, 7) and torch.equal(four[3], image[0]) and torch.equal(four[:3], image)
    assert match_channels(image, 3) is image


def test_predict_after_adapting_to_one_channel_matches_plain_torch(tmp_path):
    import torchvision

    torch.manual_seed(0)
    bench = Workbench(
        model=torchvision.models.resnet18(), name="resnet18", weights="none", input_size=(1, 3, 64, 64)
    )
    bench.apply({"op": "adapt_input", "channels": 1, "strategy": "sum"})
    assert input_channels(bench.model) == 1
    pixels = (torch.rand(3, 40, 50) * 255).to(torch.uint8)
    path = tmp_path / "colour.png"
    F.to_pil_image(pixels).save(path)
    ready = workbench_ready(bench)
    assert ready.preprocess.channels == 1
    result = predict(bench.model, [str(path)], topk=3, preprocess=ready.preprocess)[0]
    # plain torch: the weights' preprocessing on the RGB image, then grey by luminance
    plain = Preprocess(**{**ready.preprocess.__dict__, "channels": 3})(Image.open(path).convert("RGB"))
    grey = F.rgb_to_grayscale(plain)  # torchvision's luminance on the normalised image
    bench.model.eval()
    with torch.no_grad():
        expected = bench.model(grey.unsqueeze(0)).softmax(1)[0]
    assert result["top"][0]["index"] == int(expected.argmax())
    assert abs(result["top"][0]["prob"] - float(expected.max())) < 1e-5


def test_training_data_has_the_models_channels_and_a_one_channel_model_trains(digits):
    torch.set_num_threads(1)
    config = train_config(
        {
            "data": str(digits),
            "image_size": 12,
            "batch_size": 32,
            "epochs": 1,
            "workers": 0,
            "feature_cache": False,
        }
    )
    datasets = build_datasets(config, channels=1)
    x, _ = datasets.train[0]
    assert x.shape == (1, 12, 12)
    model = tiny_net()
    bench = Workbench(model=model, name="tiny", input_size=(1, 3, 12, 12))
    bench.apply({"op": "adapt_input", "channels": 1, "strategy": "sum"})
    result = train(bench.model, config, datasets)
    assert result.status == "done" and result.history[0]["val_acc"] > 0
