"""``python -m cfke_auth.demo``."""

import sys

from . import main

sys.exit(main())
