"""Where the console is and how to sign in: environment first, then ``~/.config/vantage/cli.toml``.

``VANTAGE_URL``, ``VANTAGE_TOKEN`` (or ``VANTAGE_TOKEN_FILE``) and ``VANTAGE_ACCOUNT_ID`` win
over the file's ``url``, ``token`` and ``account_id``. As in the console's own configuration, a
variable set to the empty string counts as unset, and setting both ``VANTAGE_TOKEN`` and
``VANTAGE_TOKEN_FILE`` is an error. Every error names the variable, or the file and field.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vantage_cli.errors import CliError

if TYPE_CHECKING:
    from vantage_cli.client import Console

FILE_KEYS = ("url", "token", "account_id")
ACCOUNT_ID = re.compile(r"^[0-9]{12}$")


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/vantage/cli.toml``, by default ``~/.config/vantage/cli.toml``."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "vantage" / "cli.toml"


@dataclass(frozen=True)
class Settings:
    """The console URL, token and (optional) account ID, each with where it came from."""

    url: str | None = None
    token: str | None = None
    account_id: str | None = None
    sources: dict[str, str] = field(default_factory=dict)
    path: Path | None = None

    def console(self) -> Console:
        """A client for the configured console; an error says what to set when incomplete."""
        from vantage_cli.client import Console

        where = f"`url` and `token` in {self.path}" if self.path else "a config file"
        if not self.url:
            raise CliError(f"no console URL: set VANTAGE_URL, or {where}")
        if not self.token:
            raise CliError(
                f"no API token for {self.url}: set VANTAGE_TOKEN or VANTAGE_TOKEN_FILE, or "
                f"{where} (create a token on the console's API tokens page)"
            )
        return Console(self.url, self.token, token_source=self.sources["token"])


def _read_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"{path}: cannot read the file: {exc}") from exc
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CliError(f"{path}: not valid TOML: {exc}") from exc
    values: dict[str, str] = {}
    for key, value in document.items():
        if key not in FILE_KEYS:
            allowed = ", ".join(FILE_KEYS)
            raise CliError(f"{path}: field `{key}`: unknown setting (allowed: {allowed})")
        if not isinstance(value, str):
            raise CliError(f'{path}: field `{key}`: must be a string, like {key} = "…"')
        if value.strip():
            values[key] = value.strip()
    return values


def _token_from_env(env: Mapping[str, str]) -> tuple[str, str] | None:
    token, token_file = env.get("VANTAGE_TOKEN", ""), env.get("VANTAGE_TOKEN_FILE", "")
    if token and token_file:
        raise CliError("set VANTAGE_TOKEN or VANTAGE_TOKEN_FILE, not both")
    if token:
        return token.strip(), "VANTAGE_TOKEN"
    if token_file:
        try:
            text = Path(token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"VANTAGE_TOKEN_FILE={token_file}: cannot read the file: {exc}") from exc
        if not text:
            raise CliError(f"VANTAGE_TOKEN_FILE={token_file}: the file is empty")
        return text, f"VANTAGE_TOKEN_FILE={token_file}"
    return None


def load_settings(env: Mapping[str, str] | None = None, path: Path | None = None) -> Settings:
    """Read the environment and the config file (when it exists)."""
    env = os.environ if env is None else env
    path = path or config_path(env)
    from_file = _read_file(path)
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for key, value in from_file.items():
        values[key], sources[key] = value, f"{path}: `{key}`"
    for key, variable in (("url", "VANTAGE_URL"), ("account_id", "VANTAGE_ACCOUNT_ID")):
        if env.get(variable, "").strip():
            values[key], sources[key] = env[variable].strip(), variable
    env_token = _token_from_env(env)
    if env_token:
        values["token"], sources["token"] = env_token
    url = values.get("url")
    if url is not None:
        if not re.match(r"^https?://[^/\s]+", url):
            raise CliError(
                f"{sources['url']}: {url!r} is not a console URL; "
                "expected http(s)://host[:port], e.g. https://vantage.example.com"
            )
        url = url.rstrip("/")
    account_id = values.get("account_id")
    if account_id is not None and not ACCOUNT_ID.match(account_id):
        raise CliError(f"{sources['account_id']}: {account_id!r} is not a 12-digit account ID")
    return Settings(url, values.get("token"), account_id, sources, path)


def account_id(settings: Settings) -> str:
    """The installation's account ID: from the settings when given, else from the console."""
    if settings.account_id:
        return settings.account_id
    return settings.console().account_id()
