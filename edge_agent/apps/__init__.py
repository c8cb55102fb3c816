"""Applications on the appliance: the supervisor that applies ``desired.applications``.

See ``supervisor.py`` for the flow, docs/agent.md ("Applications") for the operator's view and
docs/protocol.md for the specs and reports.
"""

from edge_agent.apps.options import AppOptions
from edge_agent.apps.process import RestartPolicy
from edge_agent.apps.supervisor import Supervisor

__all__ = ["AppOptions", "RestartPolicy", "Supervisor"]
