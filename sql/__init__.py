"""Data, not code: shipped inside the package as pnotify.sql (see pnotify/resources.py)."""
