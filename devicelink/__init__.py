"""The device link protocol, shared by the console and the edge agent.

This package is the one place where the wire format between a console and its appliances is
encoded and decoded (docs/protocol.md describes it for people). It is plain Python: it imports
neither Django nor any console or agent module, so both sides can use it, and an agent release
bundle carries it along with ``edge_agent``.
"""

PROTOCOL_VERSION = 1

PROVISION_PATH = "/agent/v1/provision"
LINK_PATH = "/agent/v1/link"
SOFTWARE_PATH = "/agent/v1/software/{version}"

# WebSocket close codes: 4000 + the HTTP status they correspond to.
CLOSE_PROTOCOL_ERROR = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_REVOKED = 4403
CLOSE_REPLACED = 4409

# Provisioning credentials live this long (Panorama's five minutes).
PROVISIONING_CREDENTIAL_TTL_S = 300
