"""The HTTP client's helpers: progress, error details, paging links."""

from __future__ import annotations

import io

import pytest

from vantage_cli.client import Console, Progress, _relative, detail_of, format_error, human_size
from vantage_cli.errors import CliError


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_in_place_on_a_terminal_and_logs_one_line_otherwise():
    screen = Terminal()
    bar = Progress("  uploading m.tar.gz", 4 * 1024 * 1024, screen)
    bar._drawn = 0.0
    bar.update(1024 * 1024)
    bar.update(3 * 1024 * 1024)
    bar.finish()
    text = screen.getvalue()
    assert text.startswith(
        "\r  uploading m.tar.gz [#######.......................] 1.0 MiB/4.0 MiB"
    )
    assert text.endswith("4.0 MiB/4.0 MiB (4194304/4194304 bytes) 100%\n")
    log = io.StringIO()
    bar = Progress("up", 10, log)
    bar.update(5)
    bar.update(5)
    bar.finish()
    assert log.getvalue() == "up [##############################] 10 B/10 B (10/10 bytes) 100%\n"


def test_sizes_details_and_links():
    assert [human_size(n) for n in (0, 2048, 3 * 2**30)] == ["0 B", "2.0 KiB", "3.0 GiB"]
    assert detail_of({"detail": "Invalid token."}) == "Invalid token."
    assert (
        detail_of({"errors": [{"path": "/a", "message": "bad", "hint": "fix"}]}) == "/a: bad (fix)"
    )
    assert detail_of({"sha256": ["A sha256 is 64 lowercase hex digits."]}).startswith("sha256: ")
    assert detail_of("<html>Bad Gateway</html>") == "<html>Bad Gateway</html>"
    assert detail_of(None) == "no details given"
    assert format_error({"path": "", "message": "m"}) == "(document): m"
    assert _relative("https://v.example.com/api/packages/?limit=50&offset=50", "https://v") == (
        "/api/packages/?limit=50&offset=50"
    )
    assert _relative("http://h/sub/api/x/?a=1", "http://h/sub") == "/api/x/?a=1"


def test_only_http_urls_are_used():
    with pytest.raises(CliError, match="not a console URL"):
        Console("file:///etc/passwd", "t", token_source="test")
