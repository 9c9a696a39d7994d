"""`python -m app.api > openapi.json` (`make openapi`): print the spec the app serves, as committed."""

import json
import sys

from app.api.app import create_app
from app.config import Settings

# The keyed spec: a server with API_KEYS serves it; one without serves it without `security` (and 401s).
json.dump(create_app(Settings(api_keys=["spec"])).openapi(), sys.stdout, indent=2, sort_keys=False)
sys.stdout.write("\n")
