"""``python -m tradeloom``: the command line (what the ``--restart-on-crash`` supervisor
starts as its child)."""

from tradeloom.cli import main

if __name__ == "__main__":
    main()
