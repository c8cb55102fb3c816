"""Settings: environment over ``cli.toml``, and errors that name the variable or file and field."""

from __future__ import annotations

import pytest

from vantage_cli.config import config_path, load_settings
from vantage_cli.errors import CliError

URL = "https://vantage.example.com"


def _file(tmp_path, text: str):
    path = tmp_path / "cli.toml"
    path.write_text(text)
    return path


def test_the_file_is_read_and_the_environment_wins(tmp_path):
    path = _file(tmp_path, f'url = "{URL}/"\ntoken = "from-file"\naccount_id = "111122223333"\n')
    from_file = load_settings({}, path)
    assert (from_file.url, from_file.token, from_file.account_id) == (
        URL,
        "from-file",
        "111122223333",
    )
    assert from_file.sources["token"] == f"{path}: `token`"
    env = {"VANTAGE_URL": "http://127.0.0.1:8000", "VANTAGE_TOKEN": "from-env"}
    both = load_settings(env, path)
    assert (both.url, both.token, both.sources["token"]) == (
        "http://127.0.0.1:8000",
        "from-env",
        "VANTAGE_TOKEN",
    )


def test_token_file_and_empty_variables(tmp_path):
    secret = tmp_path / "token"
    secret.write_text("vtg_file_token\n")
    settings = load_settings(
        {"VANTAGE_URL": URL, "VANTAGE_TOKEN_FILE": str(secret)}, tmp_path / "x"
    )
    assert settings.token == "vtg_file_token"
    assert settings.sources["token"] == f"VANTAGE_TOKEN_FILE={secret}"
    # Empty means unset, as in the console's configuration: the file's value stays.
    path = _file(tmp_path, f'url = "{URL}"\n')
    assert load_settings({"VANTAGE_URL": ""}, path).url == URL


@pytest.mark.parametrize(
    ("env", "text", "message"),
    [
        ({}, 'url = "x', "cli.toml: not valid TOML"),
        ({}, "url = 8000\n", "cli.toml: field `url`: must be a string"),
        ({}, 'tokn = "a"\n', "cli.toml: field `tokn`: unknown setting"),
        ({}, 'url = "vantage.example.com"\n', "cli.toml: `url`: 'vantage.example.com' is not"),
        ({"VANTAGE_URL": "ftp://x"}, "", "VANTAGE_URL: 'ftp://x' is not a console URL"),
        ({"VANTAGE_ACCOUNT_ID": "12"}, "", "VANTAGE_ACCOUNT_ID: '12' is not a 12-digit"),
        ({"VANTAGE_TOKEN": "a", "VANTAGE_TOKEN_FILE": "/b"}, "", "not both"),
        ({"VANTAGE_TOKEN_FILE": "/no/such/file"}, "", "VANTAGE_TOKEN_FILE=/no/such/file: cannot"),
    ],
)
def test_errors_name_the_variable_or_the_file_and_field(tmp_path, env, text, message):
    with pytest.raises(CliError) as raised:
        load_settings(env, _file(tmp_path, text))
    assert message in str(raised.value)


def test_missing_url_or_token_says_what_to_set(tmp_path):
    path = tmp_path / "cli.toml"
    with pytest.raises(CliError, match="no console URL: set VANTAGE_URL") as raised:
        load_settings({}, path).console()
    assert str(path) in str(raised.value)
    with pytest.raises(CliError, match=r"no API token for https://vantage\.example\.com"):
        load_settings({"VANTAGE_URL": URL}, path).console()


def test_config_path_follows_xdg_config_home(tmp_path):
    assert config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "vantage" / "cli.toml"
    assert config_path({}).parts[-3:] == (".config", "vantage", "cli.toml")


def test_commands_report_configuration_errors(cli, tmp_path, monkeypatch):
    (tmp_path / "config-home" / "vantage").mkdir(parents=True)
    (tmp_path / "config-home" / "vantage" / "cli.toml").write_text("url = [1]\n")
    for folder in ("assets", "graphs/app", "packages"):
        (tmp_path / "app" / folder).mkdir(parents=True)
    (tmp_path / "app" / "graphs" / "app" / "graph.json").write_text('{"nodeGraph": {}}')
    result = cli("import-application", cwd=tmp_path / "app")
    assert result.code == 1
    assert "cli.toml: field `url`: must be a string" in result.err
