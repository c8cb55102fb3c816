"""A TensorFlow detector shaped like Panorama's TF SSD sample: a SavedModel with input
``image_tensor`` uint8 [1, 300, 300, 3] and outputs detection_boxes [1, 10, 4],
detection_scores [1, 10], detection_classes [1, 10], num_detections [1]. The descriptor
gives no ``type`` (the compile takes the model's uint8). The archive has the SavedModel in a
subfolder, with the macOS "._" files a Mac's tar adds. Variant ``frozen``: the same network
as a frozen GraphDef (frozen_inference_graph.pb)."""

import json
import sys
import tarfile
from pathlib import Path

import tensorflow as tf


class Detector(tf.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = tf.Variable(tf.random.normal([3, 3, 3, 8], stddev=0.5, seed=1))
        self.box = tf.Variable(tf.random.normal([8, 10 * 4], stddev=0.5, seed=2))
        self.cls = tf.Variable(tf.random.normal([8, 10 * 91], stddev=0.5, seed=3))

    @tf.function(input_signature=[tf.TensorSpec([1, 300, 300, 3], tf.uint8, name="image_tensor")])
    def __call__(self, image_tensor):
        x = tf.cast(image_tensor, tf.float32) / 255.0
        x = tf.nn.relu(tf.nn.conv2d(x, self.conv, strides=4, padding="SAME"))
        features = tf.reduce_mean(x, axis=[1, 2])
        boxes = tf.sigmoid(tf.reshape(tf.matmul(features, self.box), [1, 10, 4]))
        logits = tf.reshape(tf.matmul(features, self.cls), [1, 10, 91])
        scores = tf.reduce_max(tf.nn.softmax(logits), axis=-1)
        classes = tf.cast(tf.argmax(logits, axis=-1), tf.float32) + 1.0
        count = tf.reduce_sum(tf.cast(scores > 0.02, tf.float32), axis=-1)
        return {
            "detection_boxes": boxes,
            "detection_scores": scores,
            "detection_classes": classes,
            "num_detections": count,
        }


def main(out: Path, variant: str) -> None:
    tf.random.set_seed(0)
    model = Detector()
    root = out / "files" / "ssd_mobilenet_v2"
    if variant == "frozen":
        from tensorflow.python.framework.convert_to_constants import (
            convert_variables_to_constants_v2,
        )

        frozen = convert_variables_to_constants_v2(model.__call__.get_concrete_function())
        root.mkdir(parents=True)
        (root / "frozen_inference_graph.pb").write_bytes(
            frozen.graph.as_graph_def().SerializeToString()
        )
    else:
        tf.saved_model.save(model, str(root / "saved_model"), signatures=model.__call__)
        (root / "saved_model" / "._saved_model.pb").write_bytes(b"\x00\x05\x16\x07 macOS fork")
    with tarfile.open(out / "model.tar.gz", "w:gz") as tar:
        tar.add(root, arcname=root.name)
    descriptor = {
        "mlModelDescriptor": {
            "envelopeVersion": "2021-01-01",
            "framework": "TENSORFLOW",
            "frameworkVersion": "2.4",
            "inputs": [{"name": "image_tensor", "shape": [1, 300, 300, 3]}],
        }
    }
    (out / "descriptor.json").write_text(json.dumps(descriptor, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "")
