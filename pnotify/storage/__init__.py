"""Storage: one module per entity; each function owns its SQL and scopes it to a user."""
