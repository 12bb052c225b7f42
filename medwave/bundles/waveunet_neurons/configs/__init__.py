"""Package marker so that setuptools ships the bundle files (package-data *.json, *.md)."""
