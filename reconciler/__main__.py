"""`python -m reconciler` is the same as the `ipass` command."""

from reconciler.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
