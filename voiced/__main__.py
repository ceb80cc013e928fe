"""`python -m voiced` is the `voiced` command."""

from voiced.cli import main

if __name__ == "__main__":
    main()
