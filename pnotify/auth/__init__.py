"""Who is calling: access rules per route, API tokens, browser sessions, OIDC sign-in."""
