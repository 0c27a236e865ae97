"""The preview opened in headless Chromium (a package, so its conftest and modules keep their
own names next to tests/conftest.py)."""
