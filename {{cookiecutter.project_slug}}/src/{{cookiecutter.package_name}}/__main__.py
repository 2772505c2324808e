"""`python -m {{ cookiecutter.package_name }}`: serve with one uvicorn process (development)."""

import uvicorn

from .app import create_app
from .settings import read_settings


def main() -> None:
    settings = read_settings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        # Logging is configured by create_app; the access line comes from the service's middleware.
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
