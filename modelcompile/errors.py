"""The two errors a compile raises; their messages are what an operator reads."""

from __future__ import annotations


class CompileError(Exception):
    """The model cannot be compiled. The message says what failed and what to do."""


class FrameworkMissing(CompileError):
    """This machine has no converter environment for the model's framework."""

    def __init__(self, framework: str, command: str, reason: str = "") -> None:
        self.framework = framework
        self.command = command
        detail = f" ({reason})" if reason else ""
        super().__init__(
            f"this machine cannot compile {framework} models: its converter environment is "
            f"not installed{detail}. Install it with: {command}"
        )
