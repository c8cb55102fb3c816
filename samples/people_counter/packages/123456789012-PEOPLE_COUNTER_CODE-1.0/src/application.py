"""People counter: finds the people in every camera's frames and counts them.

Each frame is resized to 300x300 RGB and given to the person detector (the graph's
``model_node``, an SSDLite-MobileNetV2 in ONNX). Each person found with a score of at least
``threshold`` gets a box on the HDMI output, and each camera's frame gets the count
("People: 3"). When a camera's count changes, it goes to the application log
(``/opt/aws/panorama/logs/people_counter.log``) and to stdout (the node's ``console_output``).

The frames of several cameras are processed at the same time by a small thread pool (since SDK
1.1 ``call()`` does not block other threads), each goes out as soon as it is done (a camera's
frames in order), and the next frames are taken while each camera's last one is finished, so
the model always has work.
"""

import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor, wait
from logging.handlers import RotatingFileHandler

import cv2
import numpy as np

import panoramasdk

MODEL_NODE = "model_node"  # the model's node name in graph.json
MODEL_INPUT = "image_tensor"  # the input name in the model's descriptor.json
MODEL_SIZE = 300  # the model takes [1, 300, 300, 3] uint8 RGB
PERSON = 1  # the detector's only class
WORKERS = 4  # frames given to the model at once
LOGS_DIR = os.environ.get("PANORAMA_LOGS_DIR", "/opt/aws/panorama/logs")


def get_logger(name="people_counter"):
    """A logger writing to the application log, which the device ships to the console."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    os.makedirs(LOGS_DIR, exist_ok=True)
    handler = RotatingFileHandler(
        os.path.join(LOGS_DIR, f"{name}.log"), maxBytes=10_000_000, backupCount=2
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    return logger


logger = get_logger()


class Application(panoramasdk.node):
    def __init__(self):
        # Panorama applications do not call super().__init__(): the SDK has set up the node.
        self.threshold = float(self.inputs.threshold.get())
        self.pool = ThreadPoolExecutor(max_workers=WORKERS)
        self.counts = {}  # camera -> the last count reported
        logger.info("People counter started, confidence threshold %.2f", self.threshold)

    def run(self):
        in_flight = {}  # camera -> the work on its frames taken so far and not known done
        while True:
            # A frame stays valid until its camera's second new frame after it is taken: before
            # each get(), every frame but each camera's newest must be done. The newest ones are
            # still being processed while the next frames are taken, so the model always has
            # work, whichever camera the next frame comes from.
            for works in in_flight.values():
                while len(works) > 1:
                    works.pop(0).result()
            streams = self.inputs.video_in.get()
            for stream in streams:
                # A cached frame was handed out (and shown) before: only new frames are
                # processed.
                if stream.is_cached:
                    continue
                works = in_flight.setdefault(stream.stream_id, [])
                before = works[-1] if works else None
                works.append(self.pool.submit(self.process_frame, stream, before))

    def process_frame(self, stream, before=None):
        """Detect the people in one frame, draw them and the count, show the frame after the
        camera's frame ``before`` (its work) is shown: a camera's frames go out in order."""
        try:
            people = self.detect_people(stream.image)
            for ymin, xmin, ymax, xmax in people:
                stream.add_rect(xmin, ymin, xmax, ymax)
            stream.add_label(f"People: {len(people)}", 0.05, 0.1)
            self.report(stream.stream_id, len(people))
        except Exception:
            # One bad frame must not stop the application: log it and go on.
            logger.exception("Could not process a frame from %s", stream.stream_id)
        # Each camera's frame goes out as soon as it is done; the HDMI output keeps showing the
        # other cameras' last frames beside it. The pool runs its work in the order given, so
        # the frame before this one is running or done: waiting for it cannot deadlock.
        if before is not None:
            wait([before])  # its failure is its own: run() raises it
        self.outputs.video_out.put([stream])

    def detect_people(self, image):
        """The boxes (ymin, xmin, ymax, xmax; fractions of the frame) of the people in a BGR
        frame."""
        resized = cv2.resize(image, (MODEL_SIZE, MODEL_SIZE))
        batch = np.expand_dims(cv2.cvtColor(resized, cv2.COLOR_BGR2RGB), axis=0)
        boxes, classes, scores, num = self.call({MODEL_INPUT: batch}, MODEL_NODE)
        people = []
        for i in range(int(num[0])):
            if int(classes[0][i]) == PERSON and scores[0][i] >= self.threshold:
                people.append(np.clip(boxes[0][i], 0.0, 1.0).tolist())
        return people

    def report(self, camera, count):
        if self.counts.get(camera) == count:
            return
        self.counts[camera] = count
        message = f"{camera}: {count} people"
        logger.info(message)
        print(message, flush=True)


def main():
    try:
        Application().run()
    except Exception:
        logger.exception("The people counter stopped")
        sys.exit(1)


if __name__ == "__main__":
    main()
