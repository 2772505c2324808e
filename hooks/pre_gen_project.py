"""Reject names that would produce a project that cannot be installed or imported.

Cookiecutter renders this file before it runs, so the answers arrive as string literals.
A non-zero exit makes cookiecutter delete the half-made output folder.
"""

import keyword
import re
import sys

SLUG = "{{ cookiecutter.project_slug }}"
PACKAGE = "{{ cookiecutter.package_name }}"
ENV_PREFIX = "{{ cookiecutter.env_prefix }}"

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PACKAGE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
ENV_PREFIX_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]*_$")

# Packages the generated project imports, and those uvicorn imports by name (httptools,
# uvloop): a package of the same name would shadow them.
DEPENDENCIES = {
    "fastapi",
    "gunicorn",
    "httptools",
    "joblib",
    "locust",
    "numpy",
    "prometheus_client",
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "pytest",
    "sklearn",
    "starlette",
    "structlog",
    "threadpoolctl",
    "uvicorn",
    "uvicorn_worker",
    "uvloop",
    "xgboost",
}


def name_problem(module_name: str) -> str | None:
    """Say why `module_name` cannot be the import name of the project, or None."""
    if keyword.iskeyword(module_name) or keyword.issoftkeyword(module_name):
        return "is a Python keyword"
    if module_name in sys.stdlib_module_names:
        return "would shadow the standard library module of that name"
    if module_name in DEPENDENCIES:
        return "would shadow a package the project depends on"
    return None


def validate_slug(slug: str) -> list[str]:
    if not SLUG_PATTERN.match(slug):
        return [
            f"project_slug {slug!r} is not valid: use lowercase letters, digits and "
            "single hyphens, starting with a letter (for example 'fraud-scorer')"
        ]
    problem = name_problem(slug.replace("-", "_"))
    return [f"project_slug {slug!r} {problem}"] if problem else []


def validate_package(package: str) -> list[str]:
    if not PACKAGE_PATTERN.match(package) or not package.isidentifier():
        return [
            f"package_name {package!r} is not a valid Python package name: use "
            "lowercase letters, digits and underscores, starting with a letter"
        ]
    problem = name_problem(package)
    return [f"package_name {package!r} {problem}"] if problem else []


def validate_env_prefix(prefix: str) -> list[str]:
    if ENV_PREFIX_PATTERN.match(prefix):
        return []
    return [
        f"env_prefix {prefix!r} is not valid: use uppercase letters, digits and "
        "underscores, starting with a letter and ending with '_'"
    ]


def main() -> int:
    errors = validate_slug(SLUG) + validate_package(PACKAGE) + validate_env_prefix(ENV_PREFIX)
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
