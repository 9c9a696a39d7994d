"""HTTP API: routes, schemas, problem+json errors, auth."""
