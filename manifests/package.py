"""Node package (``package.json``, ``nodePackage``) validation (spec §5.1 to §5.3).

The package declares the interfaces graphs instantiate, their typed ports and inbound network
ports, and the assets (container, model or system) that implement them.
"""

from __future__ import annotations

from typing import Any

from .catalog import FILE_SOURCE_ASSET, SYSTEM_ASSET_CATEGORIES, interface_category, system_asset
from .common import DESCRIPTION, ENVELOPE, NODE_NAME_PATTERN, PARAMETER_VALUES, VERSION
from .errors import Errors, ValidationError
from .nodes import names_hint
from .payload import load
from .pointer import join
from .schema import Arr, Bool, Int, Obj, Pattern, Str, Tagged, article, is_number, show

#: ``data_sink`` is not in the schema but the official test utility's HDMI interface uses it.
CATEGORIES = ("media_source", "media_sink", "data_sink", "business_logic", "ml_model")

PORT_NAME = Str(
    min_len=1,
    max_len=50,
    pattern=Pattern(
        r"^[$A-Z_a-z0-9]+$",
        "letters, digits, '_' and '$' (no '-': port names become Python attributes)",
    ),
)
NAME_PATTERN = Pattern(r"^[a-z_A-Z0-9\-]+$", "letters, digits, '_' and '-'")
REGEX = Str(regex=True)
#: ``string[]`` is not in the 2021-01-01 schema, but panorama-cli's file source package
#: (``source/video/file``) declares its ``sourceNames`` input with it.
DEFAULTS = {**PARAMETER_VALUES, "string[]": Arr(items=Str(), hint="an array of strings")}


def _input_port(kind: str) -> Obj:
    fields: dict[str, Any] = {
        "description": Str(max_len=255),
        "name": PORT_NAME,
        "type": Str(enum=(kind,)),
    }
    if kind != "media":
        fields["default"] = DEFAULTS[kind]
    if kind in ("int32", "float32", "string"):
        fields["constraintRegex"] = REGEX
    if kind in ("int32", "float32"):
        # Not in the schema either: the file source package bounds loopCount and fps with it.
        fields["minimum"] = PARAMETER_VALUES[kind]
    fields["maxConnections"] = Int(minimum=0, hint="an integer of at least 0 (0 means no limit)")
    if kind != "media":
        fields["reference"] = Bool()
        fields["referenceSource"] = Str()
    return Obj(title=f"{article(kind)} input port", fields=fields, required=("name", "type"))


PORT_TYPES = ("boolean", "int32", "float32", "string", "media")
INPUT_PORT_TYPES = ("boolean", "int32", "float32", "string", "string[]", "media")
INPUT_PORT = Tagged(
    title="an input port",
    key="type",
    cases={kind: _input_port(kind) for kind in INPUT_PORT_TYPES},
)
OUTPUT_PORT = Obj(
    title="an output port",
    fields={"description": Str(), "name": PORT_NAME, "type": Str(enum=PORT_TYPES)},
    required=("name", "type"),
)

INBOUND_PORT = Obj(
    title="an inbound port",
    fields={"description": Str(max_len=255), "port": Int(minimum=1, maximum=65535)},
    required=("port",),
)
NETWORK = Obj(title="network", fields={"inboundPorts": Arr(items=INBOUND_PORT, max_items=10)})

CATEGORY = Str(enum=CATEGORIES)
INTERFACE = Obj(
    title="an interface",
    fields={
        "description": Str(),
        "name": Str(min_len=1, max_len=128, pattern=NAME_PATTERN),
        "asset": Str(),
        "category": CATEGORY,
        "inputs": Arr(items=INPUT_PORT),
        "outputs": Arr(items=OUTPUT_PORT),
        "network": NETWORK,
    },
    # "category" too, unless a system asset implements the interface: _check_category.
    required=("name",),
)
#: The file source's inputs that the device refuses below 0, with or without a ``minimum``.
FILE_SOURCE_MINIMUMS = {
    "loopCount": "0 plays the videos in a loop forever, N plays them N times",
    "fps": "0 plays each video at its own frame rate",
}

ACCELERATOR = Obj(
    title="an inference accelerator",
    fields={
        "deviceType": Str(enum=("nvhost_gpu",)),
        "sharedResourcePolicy": Obj(
            title="sharedResourcePolicy", fields={"policy": Str(enum=("allow_all",))}
        ),
    },
    required=("deviceType", "sharedResourcePolicy"),
)

#: ``nvAccelerators`` is accepted next to ``inferenceAccelerators``: three GPU samples use it.
REQUIREMENT = Tagged(
    title="a requirement",
    key="type",
    cases={
        "ota": Obj(
            title="an ota requirement",
            fields={"type": Str(), "minVersion": Str(), "maxVersion": Str()},
            any_of_required=(("minVersion", "maxVersion"),),
        ),
        "device": Obj(
            title="a device requirement",
            fields={"type": Str(), "name": Str(enum=("panorama_devkit",))},
            required=("type", "name"),
        ),
        "hardware_access": Obj(
            title="a hardware_access requirement",
            fields={
                "type": Str(),
                "inferenceAccelerators": Arr(items=ACCELERATOR),
                "nvAccelerators": Arr(items=ACCELERATOR),
            },
            any_of_required=(("inferenceAccelerators", "nvAccelerators"),),
        ),
    },
)

IMPLEMENTATION = Obj(
    title="an asset implementation",
    fields={
        "description": Str(max_len=255),
        "type": Str(enum=("system", "container", "model")),
        "assetUri": Str(min_len=1, max_len=255),
        "descriptorUri": Str(),
        "requirements": Arr(items=REQUIREMENT),
    },
    required=("type", "assetUri"),
)

ASSET = Obj(
    title="an asset",
    fields={
        "description": Str(),
        "name": Str(min_len=1, max_len=255, pattern=NODE_NAME_PATTERN),
        "implementations": Arr(items=IMPLEMENTATION),
    },
    required=("name",),
)

NODE_PACKAGE = Obj(
    title="nodePackage",
    fields={
        "envelopeVersion": ENVELOPE,
        "name": Str(min_len=1, max_len=128, pattern=NAME_PATTERN),
        "version": VERSION,
        "description": DESCRIPTION,
        "assets": Arr(items=ASSET),
        "interfaces": Arr(items=INTERFACE, min_items=1),
    },
    required=("envelopeVersion", "interfaces"),
)

PACKAGE_DOCUMENT = Obj(
    title="a package.json document", fields={"nodePackage": NODE_PACKAGE}, required=("nodePackage",)
)


def validate_package(doc: Any) -> list[ValidationError]:
    """Validate a package.json document (parsed, or JSON text/bytes); never raises."""
    errors: Errors = []
    doc, _raw = load(doc, errors)
    if errors:
        return errors
    PACKAGE_DOCUMENT.check(doc, "", errors)
    body = doc.get("nodePackage") if isinstance(doc, dict) else None
    if isinstance(body, dict):
        _check_semantics(body, errors)
    return errors


def _unique_names(items: Any, base: str, what: str, scope: str, errors: Errors) -> list[str]:
    """Report repeated ``name`` values among ``items``; return the names in order."""
    seen: dict[str, str] = {}
    for index, item in enumerate(items if isinstance(items, list) else []):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            continue
        path = join(base, index, "name")
        if name in seen:
            hint = f"{what} names must be unique {scope}; first used at {seen[name]}"
            errors.append(ValidationError(path, f'duplicate {what} name "{name}"', hint))
        else:
            seen[name] = path
    return list(seen)


def _check_semantics(body: dict[str, Any], errors: Errors) -> None:
    base = "/nodePackage"
    assets = body.get("assets")
    asset_names = _unique_names(assets, f"{base}/assets", "asset", "in a package", errors)
    interfaces = body.get("interfaces")
    _unique_names(interfaces, f"{base}/interfaces", "interface", "in a package", errors)
    for index, interface in enumerate(interfaces if isinstance(interfaces, list) else []):
        if not isinstance(interface, dict):
            continue
        path = join(f"{base}/interfaces", index)
        _check_category(body, interface, path, errors)
        _check_minimums(body, interface, path, errors)
        for side in ("inputs", "outputs"):
            scope = f"among an interface's {side}"
            _unique_names(interface.get(side), join(path, side), "port", scope, errors)
        asset = interface.get("asset")
        # The CLI fills "assets" when it builds the package, so "assets": [] in source control
        # is normal; a dangling reference is only detectable once assets are listed.
        if isinstance(asset, str) and asset_names and asset not in asset_names:
            message = f'asset "{asset}" is not defined in assets'
            hint = names_hint("assets of this package", asset_names)
            errors.append(ValidationError(join(path, "asset"), message, hint))


def _check_category(
    body: dict[str, Any], interface: dict[str, Any], path: str, errors: Errors
) -> None:
    """``category`` is required, except where the interface's system asset implies it."""
    if "category" in interface or interface_category(body, interface) is not None:
        return
    hint = (
        f"{CATEGORY.describe()}; it may be left out only when the interface's asset is a "
        f"system asset ({', '.join(SYSTEM_ASSET_CATEGORIES)})"
    )
    errors.append(ValidationError(join(path, "category"), '"category" is required', hint))


def _check_minimums(
    body: dict[str, Any], interface: dict[str, Any], path: str, errors: Errors
) -> None:
    """A port's ``default`` is at least its ``minimum``; the file source's loopCount and fps
    are never negative."""
    file_source = system_asset(body, interface.get("asset")) == FILE_SOURCE_ASSET
    inputs = interface.get("inputs")
    for index, port in enumerate(inputs if isinstance(inputs, list) else []):
        if not isinstance(port, dict) or port.get("type") not in ("int32", "float32"):
            continue
        default, minimum = port.get("default"), port.get("minimum")
        where = join(join(path, "inputs"), index, "default")
        if not is_number(default) or not DEFAULTS[port["type"]].accepts(default):
            continue  # reported by the structural pass
        if is_number(minimum) and default < minimum:
            message = f"{show(default)} is below the port's minimum {show(minimum)}"
            errors.append(ValidationError(where, message, f"a value of at least {show(minimum)}"))
        elif file_source and port.get("name") in FILE_SOURCE_MINIMUMS and default < 0:
            message = f"{show(default)} is negative"
            hint = f"a value of at least 0 ({FILE_SOURCE_MINIMUMS[port['name']]})"
            errors.append(ValidationError(where, message, hint))
