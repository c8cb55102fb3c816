"""``python -m edge_agent``: switch to the installed version if there is one, then run the CLI."""

import sys

from edge_agent.bootstrap import bootstrap

if __name__ == "__main__":
    bootstrap(sys.argv[1:])
    # Imported only now: after the bootstrap, so these come from the version that runs.
    from edge_agent.cli import main

    sys.exit(main(sys.argv[1:]))
