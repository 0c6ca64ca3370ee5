"""Swagger UI at `/workflow/docs`, from the `swagger-ui-dist` npm package installed by `make install`.

flask-smorest's page loads Swagger UI from a CDN and starts it with an inline script; both break offline and
under our Content-Security-Policy, so this page loads the same files from this origin.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, render_template, send_from_directory

SWAGGER_UI_DIR = Path(__file__).resolve().parents[1] / "node_modules" / "swagger-ui-dist"
SWAGGER_UI_FILES = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"})

blp = Blueprint(
    "docs", __name__, url_prefix="/workflow/docs", template_folder="console/templates",
    static_folder="console/static", static_url_path="/assets",
)


@blp.get("")
def swagger_ui() -> str:
    # Without the package (e.g. an image built without npm) the page still links the OpenAPI document.
    return render_template("swagger.html", installed=(SWAGGER_UI_DIR / "swagger-ui-bundle.js").is_file())


@blp.get("/swagger-ui/<path:filename>")
def swagger_ui_file(filename: str) -> Response:
    if filename not in SWAGGER_UI_FILES or not (SWAGGER_UI_DIR / filename).is_file():
        abort(404, "Swagger UI is not installed here: run `make install` (it installs swagger-ui-dist)")
    return send_from_directory(SWAGGER_UI_DIR, filename, max_age=3600)
