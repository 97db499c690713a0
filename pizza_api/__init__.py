"""Pizza API: a spec-first service and the deployment rendered from the same spec."""

import warnings

__version__ = "1.0.0"

# Connexion 3.3 imports starlette.testclient at module load, which warns on every
# start of the service and CLI about a test-only dependency.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
