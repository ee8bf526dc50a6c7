"""Data, not code: shipped inside the package as pnotify.static (see pnotify/resources.py)."""
