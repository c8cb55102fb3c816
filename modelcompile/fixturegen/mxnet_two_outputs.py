"""An MXNet model with two outputs, shaped like Panorama's MXNet samples (a checkpoint:
``<name>-symbol.json`` + ``<name>-0000.params``): input ``data`` float32 [1, 3, 128, 128],
outputs class probabilities [1, 10] and a box [1, 4]; random weights from a fixed seed."""

import json
import sys
import tarfile
from pathlib import Path

import mxnet as mx


def main(out: Path, variant: str) -> None:
    mx.random.seed(0)
    data = mx.sym.var("data")
    x = mx.sym.Convolution(data, num_filter=16, kernel=(3, 3), stride=(2, 2), name="conv0")
    x = mx.sym.BatchNorm(x, name="bn0")
    x = mx.sym.Activation(x, act_type="relu")
    x = mx.sym.Convolution(x, num_filter=32, kernel=(3, 3), stride=(2, 2), name="conv1")
    x = mx.sym.Activation(x, act_type="relu")
    x = mx.sym.Flatten(mx.sym.Pooling(x, global_pool=True, pool_type="avg", kernel=(1, 1)))
    probs = mx.sym.softmax(mx.sym.FullyConnected(x, num_hidden=10, name="cls"), name="prob")
    box = mx.sym.sigmoid(mx.sym.FullyConnected(x, num_hidden=4, name="box"), name="bbox")
    symbol = mx.sym.Group([probs, box])
    module = mx.mod.Module(symbol, data_names=["data"], label_names=None)
    module.bind(data_shapes=[("data", (1, 3, 128, 128))], for_training=False)
    module.init_params(mx.init.Normal(0.3))
    files = out / "files"
    files.mkdir(parents=True)
    module.save_checkpoint(str(files / "two_outputs"), 0)
    with tarfile.open(out / "model.tar.gz", "w:gz") as tar:
        for path in sorted(files.iterdir()):
            tar.add(path, arcname=f"model/{path.name}")
    descriptor = {
        "mlModelDescriptor": {
            "envelopeVersion": "2021-01-01",
            "framework": "MXNET",
            "frameworkVersion": "1.8",
            "precisionMode": "FP16",
            "inputs": [{"name": "data", "shape": [1, 3, 128, 128], "type": "float32"}],
        }
    }
    (out / "descriptor.json").write_text(json.dumps(descriptor, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "")
