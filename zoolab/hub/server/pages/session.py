"""Who is looking at a page, and the sign-in cookie, the CSRF token and the security headers.

The token a person pastes at sign-in is kept only in an HttpOnly, SameSite=Strict cookie: it never
appears in a URL (the form is POSTed and answered with a redirect) and nothing here logs it. The
sign-in and sign-out forms carry a CSRF token that must equal the one in a second cookie (double
submit), and a cross-site ``Origin`` is refused outright.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import parse_qs, urlsplit

from fastapi import Request
from starlette.responses import Response

from zoolab.errors import InvalidInputError, PermissionDeniedError
from zoolab.hub.server.context import caller, read_body, state
from zoolab.hub.store import User

SESSION_COOKIE = "zoolab_session"
CSRF_COOKIE = "zoolab_csrf"
MAX_FORM_BYTES = 16 * 1024

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""No inline script or style anywhere; everything comes from this server (it may be air-gapped)."""


def page_viewer(request: Request) -> User | None:
    """The signed-in user: the session cookie's token, else an ``Authorization`` header, else None.

    A cookie whose token was revoked counts as signed out (the page offers to sign in again).
    """
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        return state(request).store.authenticate(token)
    return caller(request)


def csrf_token(request: Request) -> str:
    """The CSRF token of this browser (from its cookie, or a new one set by :func:`finish`)."""
    token = request.cookies.get(CSRF_COOKIE)
    if not token or len(token) > 100:
        token = getattr(request.state, "new_csrf", None) or secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return token


def secure_headers(response: Response) -> Response:
    """Add the security headers every page answer carries."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def finish(request: Request, response: Response) -> Response:
    """Security headers, and the CSRF cookie when this browser had none yet."""
    new = getattr(request.state, "new_csrf", None)
    if new:
        response.set_cookie(CSRF_COOKIE, new, httponly=True, samesite="strict", secure=_is_https(request), path="/")
    return secure_headers(response)


async def read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form, after the CSRF checks; PermissionDeniedError when they fail."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise PermissionDeniedError("cross-site form submission refused")
    media = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise InvalidInputError("expected a form (application/x-www-form-urlencoded)")
    body = await read_body(request, limit=MAX_FORM_BYTES)
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise InvalidInputError("the form is not UTF-8") from None
    form = {key: values[-1] for key, values in parsed.items()}
    expected = request.cookies.get(CSRF_COOKIE) or ""
    sent = form.get("csrf", "")
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise PermissionDeniedError("the form's security token is missing or stale",
                                    hint="reload the page and submit the form again")
    return form


def sign_in(request: Request, response: Response, token: str) -> None:
    """Keep ``token`` in the session cookie of ``response``."""
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", secure=_is_https(request), path="/",
                        max_age=30 * 24 * 3600)


def sign_out(response: Response) -> None:
    """Clear the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


def safe_next(value: str | None) -> str:
    """A local path to go to after signing in ('/' for anything that could leave this site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or any(
            ch < " " for ch in value):
        return "/"
    return value


__all__ = ["CONTENT_SECURITY_POLICY", "CSRF_COOKIE", "SESSION_COOKIE", "csrf_token", "finish", "page_viewer",
           "read_form", "safe_next", "secure_headers", "sign_in", "sign_out"]
