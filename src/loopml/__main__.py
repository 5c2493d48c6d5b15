"""``python -m loopml``: the command line, as the ``loopml`` script runs it."""

from loopml.cli.main import main

main()
