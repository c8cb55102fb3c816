"""``python -m modelcompile install [pytorch|tensorflow|mxnet|all]``: build the converters'
environments (idempotent: a ready env is left as it is). ``status`` says which are ready."""

from __future__ import annotations

import argparse
import sys

from modelcompile import envs
from modelcompile.errors import CompileError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelcompile", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    install = sub.add_parser("install", help="build converter environments")
    install.add_argument("envs", nargs="*", default=["all"], choices=[*envs.ENVS, "all"])
    sub.add_parser("status", help="which converter environments are ready")
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        print(f"[modelcompile] {message}", flush=True)

    if args.command == "status":
        for env in envs.ENVS:
            problem = envs.env_problem(env)
            say(f"{env}: {'ready in ' + str(envs.env_dir(env)) if problem is None else problem}")
        return 0
    wanted = list(envs.ENVS) if "all" in args.envs else list(dict.fromkeys(args.envs))
    failed = []
    # One failing env (no wheel for this platform, say) does not stop the others.
    for env in wanted:
        try:
            envs.install(env, progress=say)
        except CompileError as exc:
            # One line: the log it names holds the rest.
            reason = str(exc).splitlines()[0]
            say(f"{env}: cannot be built ({reason}); compiling {env} models fails until it is")
            failed.append(env)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
