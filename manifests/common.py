"""Structural rules shared by the graph and the override documents (spec §3 and §4).

Both documents hold the same ``packages[]``, ``nodes[]``, ``edges[]`` and
``networkRoutingRules[]`` item shapes, so they are declared once here.
"""

from __future__ import annotations

from .schema import Arr, Bool, Int, Num, Obj, Pattern, Str, Tagged, article

ENVELOPE_VERSION = "2021-01-01"
ENVELOPE = Str(enum=(ENVELOPE_VERSION,))
DESCRIPTION = Str(max_len=255)

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
FLOAT32_MAX = 3.4028234663852886e38
PARAMETER_TYPES = ("boolean", "float32", "int32", "string")

HOST_PORT_MIN = 8000
HOST_PORT_MAX = 9000

NODE_NAME_PATTERN = Pattern(r"^[$A-Z_a-z0-9\-]+$", "letters, digits, '_', '-' and '$'")
PACKAGE_REF_PATTERN = Pattern(
    r"^[$A-Z_a-z0-9]+::[a-zA-Z_0-9\-]+$",
    "'<account>::<PackageName>' (a 12-digit account or 'panorama', then letters, digits, "
    "'_' and '-')",
    form=True,
)
INTERFACE_REF_PATTERN = Pattern(
    r"^[$A-Z_a-z0-9\-]+::[A-Z_a-z0-9\-]+\.[A-Z_a-z0-9\-]+$",
    "'<account>::<PackageName>.<interfaceName>'",
    form=True,
)
VERSION_PATTERN = Pattern(r"^[0-9]+\.[0-9]+$", "'<major>.<minor>', e.g. '1.0'", form=True)
EDGE_END_PATTERN = Pattern(
    r"^[a-zA-Z0-9_\-]+\.?[a-z_A-Z0-9\-]+$",
    "'<node>.<port>', or a bare parameter node name as producer",
    form=True,
)

NODE_NAME = Str(min_len=1, max_len=128, pattern=NODE_NAME_PATTERN)
VERSION = Str(max_len=255, pattern=VERSION_PATTERN)
DECORATOR_TEXT = Str(min_len=1, max_len=255)

DECORATOR = Obj(
    title="a decorator",
    fields={
        "title": DECORATOR_TEXT,
        "description": DECORATOR_TEXT,
        "constraintText": DECORATOR_TEXT,
        "constraintRegex": Str(min_len=1, max_len=255, regex=True),
    },
)

PACKAGE_INCLUDE = Obj(
    title="a package include",
    fields={
        "name": Str(max_len=255, pattern=PACKAGE_REF_PATTERN),
        "version": VERSION,
        "patchVersion": Str(),
        "generatedPatchVersion": Str(),
        "uri": Str(),
    },
    required=("name", "version"),
)

PARAMETER_VALUES = {
    "boolean": Bool(),
    "float32": Num(max_abs=FLOAT32_MAX, hint="a float32 number (magnitude at most 3.4028235e38)"),
    "int32": Int(
        minimum=INT32_MIN,
        maximum=INT32_MAX,
        hint=f"an int32 integer from {INT32_MIN} to {INT32_MAX}",
    ),
    "string": Str(),
}


def _parameter_node(kind: str) -> Obj:
    return Obj(
        title=f"{article(kind)} parameter node",
        fields={
            "name": NODE_NAME,
            "interface": Str(enum=(kind,)),
            "value": PARAMETER_VALUES[kind],
            "overridable": Bool(),
            "overrideMandatory": Bool(),
            "decorator": DECORATOR,
        },
        required=("name", "interface"),
    )


INTERFACE_NODE = Obj(
    title="an interface node",
    fields={
        "name": NODE_NAME,
        "interface": Str(
            pattern=INTERFACE_REF_PATTERN,
            hint="'<account>::<PackageName>.<interfaceName>' for a package interface, or "
            "boolean, float32, int32 or string for a parameter node",
        ),
        "overridable": Bool(),
        "overrideMandatory": Bool(),
        "launch": Str(enum=("onDemand", "onAppStart", "onSignal")),
        "decorator": DECORATOR,
    },
    required=("name", "interface"),
)

NODE = Tagged(
    title="a node",
    key="interface",
    cases={kind: _parameter_node(kind) for kind in PARAMETER_TYPES},
    default=INTERFACE_NODE,
)

EDGE = Obj(
    title="an edge",
    fields={
        "producer": Str(pattern=EDGE_END_PATTERN),
        "consumer": Str(pattern=EDGE_END_PATTERN),
    },
    required=("producer", "consumer"),
)

ROUTING_RULE = Obj(
    title="a network routing rule",
    fields={
        "node": NODE_NAME,
        "containerPort": Int(minimum=1, maximum=65535),
        "hostPort": Int(
            minimum=HOST_PORT_MIN,
            maximum=HOST_PORT_MAX,
            hint=f"an integer from {HOST_PORT_MIN} to {HOST_PORT_MAX} "
            "(the host ports a device lets applications use)",
        ),
        "decorator": DECORATOR,
    },
    required=("node", "containerPort"),
)

PACKAGES = Arr(items=PACKAGE_INCLUDE)
NODES = Arr(items=NODE)
EDGES = Arr(items=EDGE)
ROUTING_RULES = Arr(items=ROUTING_RULE)
