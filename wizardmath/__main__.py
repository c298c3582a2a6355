import sys

from wizardmath.cli import main

sys.exit(main())
