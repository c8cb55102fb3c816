"""A TorchScript image classifier shaped like Panorama's PyTorch SqueezeNet sample: input
``data`` float32 [1, 3, 224, 224], 1000 class probabilities; a few conv layers with a fire
module, random weights from a fixed seed. Variant ``eager``: the same network pickled with
torch.save (what Neo could not load either without the code)."""

import json
import sys
import tarfile
from pathlib import Path

import torch
from torch import nn


class Fire(nn.Module):
    def __init__(self, inp: int, squeeze: int, expand: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(inp, squeeze, 1)
        self.expand1 = nn.Conv2d(squeeze, expand, 1)
        self.expand3 = nn.Conv2d(squeeze, expand, 3, padding=1)

    def forward(self, x):
        x = torch.relu(self.squeeze(x))
        return torch.cat([torch.relu(self.expand1(x)), torch.relu(self.expand3(x))], 1)


class SqueezeNetLike(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2), nn.ReLU(), nn.MaxPool2d(3, stride=2, ceil_mode=True),
            Fire(16, 8, 16), nn.MaxPool2d(3, stride=2, ceil_mode=True), Fire(32, 8, 32),
        )  # fmt: skip
        self.classifier = nn.Sequential(nn.Conv2d(64, 1000, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))

    def forward(self, x):
        return torch.softmax(torch.flatten(self.classifier(self.features(x)), 1), dim=1)


def main(out: Path, variant: str) -> None:
    torch.manual_seed(0)
    model = SqueezeNetLike().eval()
    work = out / "files"
    work.mkdir(parents=True)
    if variant == "eager":
        torch.save(model, work / "squeezenet.pth")
    else:
        torch.jit.trace(model, torch.randn(1, 3, 224, 224)).save(str(work / "squeezenet.pth"))
    with tarfile.open(out / "model.tar.gz", "w:gz") as tar:
        tar.add(work / "squeezenet.pth", arcname="squeezenet.pth")
    descriptor = {
        "mlModelDescriptor": {
            "envelopeVersion": "2021-01-01",
            "framework": "PYTORCH",
            "frameworkVersion": "1.8",
            "precisionMode": "FP32",
            "inputs": [{"name": "data", "shape": [1, 3, 224, 224]}],
        }
    }
    (out / "descriptor.json").write_text(json.dumps(descriptor, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "")
