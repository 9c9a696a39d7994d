"""`python -m app.api > openapi.json` (`make openapi`): print the spec the app serves, as committed."""

import json
import sys

from app.api.app import create_app
from app.api.docs import contract

json.dump(contract(create_app()), sys.stdout, indent=2, sort_keys=False)
sys.stdout.write("\n")
