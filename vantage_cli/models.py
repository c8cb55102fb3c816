"""``compile-int8``: ask the console for a registered model in INT8, and follow it.

Vantage's option (panorama-cli has no such command): the console quantizes the model on frames
of a camera or a media folder, checks it against FP32 and refuses it below the threshold
(docs/models.md, "Precision"). Deployments of the model use it once it passes.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from vantage_cli.client import Console, detail_of
from vantage_cli.config import load_settings
from vantage_cli.errors import CliError
from vantage_cli.project import App, read_json

POLL_S = 2.0


def _model_asset(args: argparse.Namespace) -> str:
    """The sha256 of the model asset: given, or read from the package's package.json."""
    if args.asset_sha256:
        return args.asset_sha256
    folder = App.here().package_dir(args.package_path)
    document = read_json(folder / "package.json")
    assets = (document.get("nodePackage") or {}).get("assets") or []
    models = [
        (asset.get("name"), str(implementation.get("assetUri", "")))
        for asset in assets
        for implementation in asset.get("implementations") or []
        if implementation.get("type") == "model"
    ]
    if args.model_asset_name:
        models = [m for m in models if m[0] == args.model_asset_name]
    if len(models) != 1:
        names = ", ".join(str(name) for name, _ in models) or "none"
        raise CliError(
            f"{folder.name}/package.json: expected one model asset"
            + (f" named {args.model_asset_name}" if args.model_asset_name else "")
            + f", found {names} (use --model-asset-name)"
        )
    return models[0][1].split(".", 1)[0]


def _report(compiled: dict[str, Any]) -> str:
    accuracy = compiled.get("accuracy") or {}
    if not accuracy:
        return ""
    return (
        f"agreement with FP32 {accuracy.get('agreement', 0):.1%} ({accuracy.get('detail')}, "
        f"{accuracy.get('samples')} frames not calibrated on; threshold "
        f"{accuracy.get('threshold')})"
    )


def _follow(console: Console, compiled: dict[str, Any], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    said = ""
    while compiled.get("status") in ("PENDING", "IN_PROGRESS"):
        if time.monotonic() > deadline:
            raise CliError(
                f"the INT8 compile {compiled['id']} is still {compiled['status']} after "
                f"{timeout:.0f} s; follow it on the package page or with GET "
                f"/api/model-compiles/{compiled['id']}/"
            )
        step = compiled.get("progress") or compiled.get("status", "")
        if step != said:
            print(f"  {step}", flush=True)
            said = step
        time.sleep(POLL_S)
        compiled = console.request("GET", f"/api/model-compiles/{compiled['id']}/").body
    if compiled.get("status") == "SUCCEEDED":
        print(f"INT8 succeeded: {_report(compiled)}")
        print("New deployments of this model run it in INT8.")
        return 0
    print(f"INT8 failed: {compiled.get('message')}")
    print("Deployments of this model keep running it in FP32.")
    return 1


def compile_int8(args: argparse.Namespace) -> int:
    sha256 = _model_asset(args)
    body: dict[str, Any] = {"asset": sha256, "threshold": args.threshold}
    if args.calibration_folder:
        body["folder"] = args.calibration_folder
    else:
        body["data_source"] = args.calibration_camera
    console = load_settings().console()
    answer = console.request("POST", "/api/model-compiles/", json_body=body, expect=(400,))
    if answer.status == 400:
        raise CliError(f"the console refused INT8: {detail_of(answer.body)}")
    compiled = answer.body
    source = args.calibration_folder or f"the camera {args.calibration_camera}"
    print(f"INT8 compile {compiled['id']} of model {sha256[:12]}… queued, calibrating on {source}")
    if not args.wait:
        print(f"Follow it on the package page, or with GET /api/model-compiles/{compiled['id']}/")
        return 0
    return _follow(console, compiled, args.timeout)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "compile-int8",
        help="have the console compile a registered model to INT8 (a Vantage option)",
        description="Ask the console to quantize a registered model asset to INT8, calibrated "
        "on frames of a media folder or a camera (data source), checked against FP32 on frames "
        "it was not calibrated on, and refused below --threshold. Deployments of the model use "
        "it once it passes. Name the asset by its package (--package-path, and "
        "--model-asset-name when the package has several) or by its sha256.",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--package-path", help="the model's package folder (packages/…)")
    which.add_argument("--asset-sha256", help="the model asset's sha256")
    parser.add_argument("--model-asset-name", help="the model asset's name in package.json")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--calibration-folder", help="a folder of images and videos in the console's media folders"
    )
    source.add_argument("--calibration-camera", help="a data source (camera) name")
    parser.add_argument(
        "--threshold", type=float, default=0.85,
        help="the agreement with FP32, 0 to 1, below which INT8 is refused (default 0.85)",
    )  # fmt: skip
    parser.add_argument(
        "--wait", action="store_true", help="follow the compile until it succeeds or fails"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800, help="with --wait: give up after this many s"
    )
    parser.set_defaults(handler=compile_int8)
