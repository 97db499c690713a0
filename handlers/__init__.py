"""Operation handlers, one module per resource; openapi.yaml routes requests here."""
