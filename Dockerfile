# One image recipe for every Dealgate app; the app is chosen at build time:
#   docker build --build-arg APP_MODULE=services.roadmap .
# The container migrates the app's database, then serves it (`python -m <module> serve`).
FROM python:3.11-slim

ARG APP_MODULE
ENV APP_MODULE=${APP_MODULE} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Dependencies first, in their own layer, so code changes do not reinstall them.
WORKDIR /src
COPY pyproject.toml ./
RUN python -c "import tomllib; \
        project = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
        print('\n'.join(project['dependencies']))" > requirements.txt \
    && pip install --no-cache-dir -r requirements.txt

# The code, installed as a package: the app runs from site-packages, not from a source tree.
COPY kit/ kit/
COPY services/ services/
COPY gateway/ gateway/
RUN test -n "$APP_MODULE" || { echo "build with --build-arg APP_MODULE=<module>" >&2; exit 1; } \
    && pip install --no-cache-dir --no-deps . \
    && cd / && rm -rf /src \
    && python -c "import gateway.console as c, pathlib, sys; \
        page = pathlib.Path(c.__file__).parent / 'static' / 'index.html'; \
        sys.exit(0 if page.is_file() else 'the review console static files did not ship')"

# Unprivileged user; /app/data is the only writable place (the SQLite default lives there).
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /app dealgate \
    && mkdir -p /app/data && chown dealgate:dealgate /app/data
WORKDIR /app
USER dealgate

# Shell form so $APP_MODULE expands; exec so the app gets signals as PID 1.
CMD exec python -m "$APP_MODULE" serve
