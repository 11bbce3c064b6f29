"""``python -m mtlzoo`` runs the command line."""

from mtlzoo.cli import main

if __name__ == "__main__":
    main()
