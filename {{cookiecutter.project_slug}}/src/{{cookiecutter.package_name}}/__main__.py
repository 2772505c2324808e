"""`python -m` this package: serve with one uvicorn process (development)."""

import uvicorn

from .app import create_app
from .settings import read_settings

if __name__ == "__main__":
    settings = read_settings()
    # Logging is configured by create_app; the access line comes from the service's middleware.
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
