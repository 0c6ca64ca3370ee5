"""Turn a notification into a subject, a text body and an HTML body from the Jinja2 templates beside this file.

A type with its own templates (`recipient_activation.txt.j2`) uses them; every other type wraps the
notification's stored subject and body in `default.*.j2`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


class EmailTemplates:
    """The e-mail templates; HTML is autoescaped, and a missing variable is an error, not an empty string."""

    def __init__(self, directory: Path = TEMPLATES) -> None:
        self._env = Environment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )

    def render(self, notification_type: str, *, subject: str, **context: Any) -> RenderedEmail:
        values = {"subject": subject, **context}
        return RenderedEmail(
            subject=subject,
            text=self._template(notification_type, "txt").render(values),
            html=self._template(notification_type, "html").render(values),
        )

    def _template(self, notification_type: str, kind: str) -> Any:
        try:
            return self._env.get_template(f"{notification_type.lower()}.{kind}.j2")
        except TemplateNotFound:
            return self._env.get_template(f"default.{kind}.j2")
