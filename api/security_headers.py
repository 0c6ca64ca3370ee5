"""Security headers on every response of the app: the console's pages, the API's JSON and the docs.

The Content-Security-Policy allows scripts, styles and fonts from this origin only (no `unsafe-inline`, no
CDN), so an injected `<script>` or inline handler does not run: https://developer.mozilla.org/docs/Web/HTTP/CSP
`frame-ancestors 'none'` and `X-Frame-Options: DENY` (for older browsers) forbid framing (clickjacking).
In production, Strict-Transport-Security makes browsers use HTTPS only for a year, subdomains included
(https://www.rfc-editor.org/rfc/rfc6797); a browser ignores it on a plain-HTTP response (section 8.1).
"""

from __future__ import annotations

from flask import Response

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # Swagger UI draws its icons as data: SVG images.
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"


def add_security_headers(response: Response, *, https_only: bool = False) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if https_only:
        response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
    return response
