"""One place builds the services; the worker path never loads the HTTP app."""

from __future__ import annotations

import subprocess
import sys


def test_worker_services_do_not_import_the_api() -> None:
    code = (
        "import sys, app.service.wiring, app.cli.main; "
        "loaded = sorted(m for m in sys.modules if m == 'app.api.app' or m.startswith(('app.api', 'fastapi'))); "
        "print(loaded); sys.exit(1 if loaded else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_ai_client_is_imported_only_when_a_provider_is_configured() -> None:
    code = "import sys, app.service.wiring, app.cli.main, app.api.app; sys.exit(1 if 'openai' in sys.modules else 0)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, "importing openai takes about a second: only a configured provider pays it"
