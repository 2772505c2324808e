"""Reject names that would produce a project that cannot be installed or imported.

Cookiecutter renders this file before it runs, writing the answers into it (see answers()).
Also refused: a project name or author that would break the quoted strings they are written in.
A non-zero exit makes cookiecutter delete the half-made output folder.
"""

import json
import keyword
import re
import sys
from typing import Any


def answers() -> dict[str, Any]:
    """The answers, rendered in by cookiecutter as one JSON document: each exactly as given."""
    # Raw and triple-quoted: JSON escapes every quote inside a string, so nothing ends it early.
    rendered: dict[str, Any] = json.loads(r"""
{{ cookiecutter | jsonify }}
""")
    return rendered


# Matched whole (fullmatch): no trailing space or newline slips through.
SLUG_PATTERN = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
PACKAGE_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
ENV_PREFIX_PATTERN = re.compile(r"[A-Z][A-Z0-9_]*_")
FREE_TEXT_FORBIDDEN = re.compile(r'["\\\x00-\x1f\x7f]')

# What the generated project installs, for either framework and its development tools included:
# the distributions (a project of the same name cannot depend on them) and the modules they
# provide (a package of the same name would shadow them). The template's tests check this list
# against a baked project's lock file and installed modules.
DEPENDENCIES = {
    "aiohappyeyeballs", "aiohttp", "aiosignal", "annotated_doc", "annotated_types", "anyio",
    "ast_serialize", "attr", "attrs", "bandit", "bidict", "blinker", "boolean", "boolean_py",
    "brotli", "cachecontrol", "certifi", "cffi", "cfgv", "charset_normalizer", "click",
    "cloudpickle", "colorama", "configargparse", "cyclonedx", "cyclonedx_python_lib", "defusedxml",
    "distlib", "dotenv", "engineio", "fastapi", "filelock", "flask", "flask_cors", "flask_login",
    "frozenlist", "gevent", "geventhttpclient", "greenlet", "gunicorn", "h11", "httpcore2",
    "httptools", "httpx2", "httpx2_jsfetch", "identify", "idna", "iniconfig", "itsdangerous",
    "jinja2", "joblib", "librt", "license_expression", "locust", "markdown_it", "markdown_it_py",
    "markupsafe", "mdurl", "ml_dtypes", "msgpack", "msgspec", "multidict", "mypy",
    "mypy_extensions", "mypyc", "narwhals", "nodeenv", "numpy", "opentelemetry",
    "opentelemetry_api", "packageurl", "packageurl_python", "packaging", "packaging_legacy_version",
    "pathspec", "pip", "pip_api", "pip_audit", "pip_requirements_parser", "platformdirs", "pluggy",
    "pre_commit", "prometheus_client", "prometheus_fastapi_instrumentator", "propcache", "psutil",
    "py", "py_serializable", "pycparser", "pydantic", "pydantic_core", "pydantic_settings",
    "pygments", "pyparsing", "pytest", "pytest_locust", "python_discovery", "python_dotenv",
    "python_engineio", "python_rapidjson", "python_socketio", "pywin32", "pyyaml", "pyzmq",
    "rapidjson", "requests", "rich", "ruff", "scikit_learn", "scipy", "simple_websocket", "sklearn",
    "socketio", "sortedcontainers", "starlette", "stevedore", "structlog", "threadpoolctl", "tomli",
    "tomli_w", "tritonclient", "tritonclientutils", "tritongrpcclient", "tritonhttpclient",
    "tritonshmutils", "truststore", "types_gunicorn", "typing_extensions", "typing_inspection",
    "urllib3", "uvicorn", "uvicorn_worker", "uvloop", "virtualenv", "websocket", "websocket_client",
    "werkzeug", "wsproto", "xgboost", "xgboost_cpu", "yaml", "yarl", "zmq", "zope", "zope_event",
    "zope_interface",
}  # fmt: skip
# Names the project's own files take, or that Python keeps out of sys.stdlib_module_names.
RESERVED = {"test", "tests"}


def name_problem(module_name: str) -> str | None:
    """Say why `module_name` cannot be the import name of the project, or None."""
    if keyword.iskeyword(module_name) or keyword.issoftkeyword(module_name):
        return "is a Python keyword"
    if module_name in sys.stdlib_module_names:
        return "would shadow the standard library module of that name"
    if module_name in DEPENDENCIES:
        return "would shadow a package the project depends on"
    if module_name in RESERVED:
        return "would shadow Python's test package, or the project's tests folder"
    return None


def validate_slug(slug: str) -> list[str]:
    if not SLUG_PATTERN.fullmatch(slug):
        return [
            f"project_slug {slug!r} is not valid: use lowercase letters, digits and "
            "single hyphens, starting with a letter (for example 'fraud-scorer')"
        ]
    problem = name_problem(slug.replace("-", "_"))
    return [f"project_slug {slug!r} {problem}"] if problem else []


def validate_package(package: str) -> list[str]:
    if not PACKAGE_PATTERN.fullmatch(package) or not package.isidentifier():
        return [
            f"package_name {package!r} is not a valid Python package name: use "
            "lowercase letters, digits and underscores, starting with a letter"
        ]
    problem = name_problem(package)
    return [f"package_name {package!r} {problem}"] if problem else []


def validate_env_prefix(prefix: str) -> list[str]:
    if ENV_PREFIX_PATTERN.fullmatch(prefix):
        return []
    return [
        f"env_prefix {prefix!r} is not valid: use uppercase letters, digits and "
        "underscores, starting with a letter and ending with '_'"
    ]


def validate_free_text(texts: dict[str, str]) -> list[str]:
    return [
        f"{prompt} {text!r} is not valid: it may not contain a double quote, a backslash "
        "or a control character"
        for prompt, text in texts.items()
        if FREE_TEXT_FORBIDDEN.search(text)
    ]


def main() -> int:
    given = answers()
    errors = (
        validate_slug(given["project_slug"])
        + validate_package(given["package_name"])
        + validate_env_prefix(given["env_prefix"])
        + validate_free_text({name: given[name] for name in ("project_name", "author")})
    )
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
