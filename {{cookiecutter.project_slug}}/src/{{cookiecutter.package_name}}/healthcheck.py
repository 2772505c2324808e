"""Exit 0 if the service here is ready: the image's HEALTHCHECK (slim Python images have neither
curl nor wget), as `python -m {{ cookiecutter.package_name }}.healthcheck`."""

import sys
import urllib.request

from .settings import Settings, read_settings


def ready_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host  # noqa: S104
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}/health/ready"


def main() -> int:
    url = ready_url(read_settings())
    try:
        # Docker and Kubernetes time the check out on their own; this only stops a hung socket.
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - always http
            return 0 if response.status == 200 else 1
    except OSError as error:  # HTTPError too
        print(f"not ready: {url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
