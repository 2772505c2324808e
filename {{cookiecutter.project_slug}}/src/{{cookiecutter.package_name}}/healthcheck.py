"""`python -m {{ cookiecutter.package_name }}.healthcheck`: exit 0 if the service here is ready.

The container image's HEALTHCHECK runs it: slim Python images have neither curl nor wget. It asks
`/health/ready` on this host, at the port of the service's own settings.
"""

import sys
import urllib.error
import urllib.request

from .settings import Settings, read_settings

# Docker and Kubernetes time the check out on their own; this only stops a hung connection.
TIMEOUT_SECONDS = 3.0
# Addresses that mean "every interface": the check connects to this host's loopback instead.
WILDCARDS = {"", "0.0.0.0", "::"}  # noqa: S104 - compared against, never bound


def ready_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in WILDCARDS else settings.host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}/health/ready"


def check(url: str, timeout: float = TIMEOUT_SECONDS) -> bool:
    """True if `url` answers 200; prints why not otherwise."""
    try:
        # The URL is built above from the settings: always http, never a file or other scheme.
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            status: int = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError as error:
        print(f"not ready: {url}: {error}", file=sys.stderr)
        return False
    if status != 200:
        print(f"not ready: {url} answered {status}", file=sys.stderr)
    return status == 200


def main() -> int:
    return 0 if check(ready_url(read_settings())) else 1


if __name__ == "__main__":
    sys.exit(main())
