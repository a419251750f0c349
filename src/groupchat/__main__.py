"""`python -m groupchat …` is the `groupchat` command."""

import sys

from groupchat.cli import main

sys.exit(main())
