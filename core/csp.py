"""The Content-Security-Policy of every response.

No script runs but the console's own files: no inline scripts or event handlers (pages ask for
behaviour with data attributes, static/js/vantage.js), no eval. So markup that an attacker
manages to get into a page (a name, a tag, a camera's answer) cannot run, and cannot load or
send anything elsewhere: every fetch, image, font and frame is the console's own.

Styles: the stylesheets are files too, and ``<style>`` elements are refused; htmx's indicator
styles are in vantage.css (``includeIndicatorStyles`` off in base.html). ``style=""``
attributes are allowed (``style-src-attr 'unsafe-inline'``), because some values are computed
per page and cannot be a class: a progress bar's width, a chart series' colour, and the same
attributes arrive in live fragments. An attribute can only style its own element (no selectors,
so it cannot read attribute values out, as an injected ``<style>`` could), and scripts stay
shut out; that is the trade.

The live socket is a ``ws:``/``wss:`` URL of this same host; CSP 3 counts it as 'self', older
browsers did not, so it is named outright.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"


def policy(host: str) -> str:
    """The policy for pages served to ``host`` (the request's Host, already checked against
    ALLOWED_HOSTS by Django)."""
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "style-src-attr": "'unsafe-inline'",
        "img-src": "'self' data: blob:",
        "font-src": "'self'",
        "connect-src": f"'self' ws://{host} wss://{host}",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = policy(request.get_host())
        return response
