"""``python -m verify.cli``."""

import sys

from verify.cli import main

sys.exit(main())
