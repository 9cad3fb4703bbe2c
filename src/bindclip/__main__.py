import sys

from bindclip.cli import main

sys.exit(main())
