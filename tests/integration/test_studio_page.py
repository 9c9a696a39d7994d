"""The Studio page as the API serves it: its addresses, its own files only, its headers, and none in the contract.

What the page does is tested in a real browser (tests/browser/test_studio.py); this is what any client sees.
"""

from __future__ import annotations

import re
import tomllib
import uuid
from pathlib import Path

from app.api.studio_page import ASSETS, content_security_policy
from app.config import Settings
from tests.conftest import Infra, make_settings, running_service

ROOT = Path(__file__).resolve().parents[2]


async def test_the_page_and_its_files_are_served_with_a_strict_policy_and_outside_the_contract(
    settings: Settings,
) -> None:
    async with running_service(settings, run_worker=False) as client:
        for path in ("/studio", f"/studio/jobs/{uuid.uuid4()}"):
            page = await client.get(path)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), path
            assert "script-src" not in page.headers["content-security-policy"]  # default-src 'self': no inline script
            assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert (await client.get("/studio/")).headers["location"] == "/studio"
        assert (await client.get("/studio/jobs/not-a-job")).status_code == 422

        referenced = set(re.findall(r"/studio/assets/([\w.-]+)", (await client.get("/studio")).text))
        for name in sorted(referenced | _imported()):
            asset = await client.get(f"/studio/assets/{name}")
            assert asset.status_code == 200, name
            kind = "text/css" if name.endswith(".css") else "text/javascript"
            assert asset.headers["content-type"].startswith(kind), name
        for name in ("index.html", "nothing.js", "..%2Fstudio.py", ".hidden.js"):
            missing = await client.get(f"/studio/assets/{name}")
            assert missing.status_code == 404 and missing.json()["code"] == "not_found", name

        spec = (await client.get("/openapi.json")).json()
        assert not [path for path in spec["paths"] if path.startswith("/studio")]


def test_an_s3_stores_presigned_media_may_load_into_the_page(infra: Infra, tmp_path: Path) -> None:
    minio = make_settings(infra, tmp_path, storage_url="s3://reels/x", s3_public_endpoint_url="http://127.0.0.1:9000/")
    aws = make_settings(infra, tmp_path, storage_url="s3://reels/x")
    local = make_settings(infra, tmp_path)
    assert "media-src 'self' http://127.0.0.1:9000;" in content_security_policy(minio)
    assert "img-src 'self' https://*.amazonaws.com;" in content_security_policy(aws)
    assert "media-src 'self';" in content_security_policy(local)


def _imported() -> set[str]:
    """Every module a module of the page imports (`from "./x.js"`): each must be one the API serves."""
    return {name for script in ASSETS.glob("*.js") for name in re.findall(r'from "\./([\w.-]+)"', script.read_text())}


def test_every_file_of_the_page_ships_in_the_package() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["app.api"]
    shipped = {path for pattern in patterns for path in (ROOT / "app" / "api").glob(pattern)}
    assert set(ASSETS.iterdir()) == shipped
