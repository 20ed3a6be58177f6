"""Which tool installs a Python app's dependencies, chosen by its lockfile.

The dependency files are copied and installed before the rest of the source,
so a change of code alone reuses that layer. Every tool installs into the base
image's virtualenv (/opt/venv), the one the start command runs with.
"""

from collections.abc import Callable

# Pinned so the same lockfile installs the same way on every machine.
UV = "uv==0.13.9"
POETRY = "poetry==2.5.1"
PIPENV = "pipenv==2026.10.3"


def python_dependencies(has: Callable[[str], bool]) -> tuple[str, list[str], list[str]]:
    """(installer, lines before `COPY . .`, lines after it) for the files the app has."""
    if has("uv.lock") and has("pyproject.toml"):
        return (
            "uv (uv.lock)",
            [
                f"RUN pip install {UV}",
                "ENV UV_PROJECT_ENVIRONMENT=/opt/venv UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy",
                "COPY pyproject.toml uv.lock ./",
                "RUN uv sync --frozen --inexact --no-dev --no-install-project",
            ],
            ["RUN uv sync --frozen --inexact --no-dev"],
        )
    if has("poetry.lock") and has("pyproject.toml"):
        return (
            "Poetry (poetry.lock)",
            [
                f"RUN pip install {POETRY}",
                "ENV POETRY_VIRTUALENVS_CREATE=false",
                "COPY pyproject.toml poetry.lock ./",
                "RUN poetry install --no-interaction --only main --no-root",
            ],
            ["RUN poetry install --no-interaction --only main"],
        )
    if has("Pipfile.lock"):
        return (
            "pipenv (Pipfile.lock)",
            [
                f"RUN pip install {PIPENV}",
                "COPY Pipfile Pipfile.lock ./",
                "RUN pipenv requirements > /tmp/requirements.txt && pip install -r /tmp/requirements.txt",
            ],
            [],
        )
    before, after = [], []
    if has("requirements.txt"):
        before = ["COPY requirements.txt ./", "RUN pip install -r requirements.txt"]
    if has("pyproject.toml"):
        after = ["RUN pip install ."]
    installer = "pip (requirements.txt)" if before else "pip (pyproject.toml)" if after else "none"
    return installer, before, after


# Classic Yarn reads yarn.lock v1; pnpm 9 reads lockfile v9 (and v6).
YARN = "yarn@1.22.22"
PNPM = "pnpm@9.15.9"


def node_dependencies(has: Callable[[str], bool]) -> tuple[str, list[str]]:
    """(installer, lines before `COPY . .`) for the lockfile the app has."""
    if has("pnpm-lock.yaml"):
        return "pnpm (pnpm-lock.yaml)", [
            f"RUN npm install -g {PNPM}",
            "COPY package.json pnpm-lock.yaml ./",
            "RUN pnpm install --frozen-lockfile --prod",
        ]
    if has("yarn.lock"):
        return "Yarn (yarn.lock)", [
            f"RUN npm install -g {YARN}",
            "COPY package.json yarn.lock ./",
            "RUN yarn install --frozen-lockfile --production --non-interactive",
        ]
    if has("package-lock.json"):
        return "npm (package-lock.json)", ["COPY package*.json ./", "RUN npm ci --omit=dev"]
    return "npm (no lockfile)", ["COPY package*.json ./", "RUN npm install --omit=dev"]
