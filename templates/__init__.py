"""Data, not code: shipped inside the package as pnotify.templates (see pnotify/resources.py)."""
