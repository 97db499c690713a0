"""Pizza API: a spec-first service and the deployment rendered from the same spec."""

__version__ = "1.0.0"
