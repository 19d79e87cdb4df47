from rcx.cli import main
import sys

sys.exit(main())
