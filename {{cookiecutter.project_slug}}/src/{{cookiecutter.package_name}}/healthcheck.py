"""`python -m {{ cookiecutter.package_name }}.healthcheck`: exit 0 if the service here is ready.

The container image's HEALTHCHECK runs it: slim Python images have neither curl nor wget. It asks
`/health/ready` on this host, at the port of the service's own settings.
"""

import sys
import urllib.error
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
    except (urllib.error.HTTPError, OSError) as error:
        print(f"not ready: {url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
