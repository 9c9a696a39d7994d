"""Write a .env with fresh random secrets for docker compose; never overwrite one that exists.

Standard library only, so `make env` needs no virtualenv: `python3 scripts/make_env.py [PATH]`.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path


def env_text() -> str:
    """The .env body: every secret docker-compose.yml requires, each made with `secrets`."""
    values = {
        "API_KEYS": "sk_" + secrets.token_urlsafe(32),
        "ADMIN_API_KEYS": "",
        "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
        "REDIS_PASSWORD": secrets.token_urlsafe(24),
        "WEBHOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "GRAFANA_ADMIN_PASSWORD": secrets.token_urlsafe(18),
        "S3_ACCESS_KEY": "smartedit-" + secrets.token_hex(6),
        "S3_SECRET_KEY": secrets.token_urlsafe(30),
        "BIND_ADDRESS": "127.0.0.1",
    }
    lines = [
        "# Made by `make env`. Secrets for docker compose; keep this file out of version control.",
        "# API_KEYS: comma-separated client keys. BIND_ADDRESS: where the published ports listen.",
        *(f"{name}={value}" for name, value in values.items()),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Create the file with mode 0600; leave an existing one untouched."""
    path = Path(argv[1] if len(argv) > 1 else ".env")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"{path} exists; left as it is (delete it to make new secrets)")
        return 0
    with os.fdopen(fd, "w") as out:
        out.write(env_text())
    print(f"wrote {path} with new secrets; API_KEYS holds the key clients send as 'Authorization: Bearer <key>'")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
