"""``python -m cfke_auth`` runs the command line."""

import sys

from .cli import main

sys.exit(main())
