"""`python -m app.cli`: the `smartedit` command."""

import sys

from app.cli.main import main

sys.exit(main())
