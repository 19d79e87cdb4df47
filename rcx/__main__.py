import sys

from rcx.cli import main

sys.exit(main())
