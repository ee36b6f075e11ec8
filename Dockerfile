# syntax=docker/dockerfile:1
# Chatorical in containers: `docker compose up` with compose.yaml (deploy/README.md).

# --- the widget: built from one core by esbuild, and its checks must pass before anything ships
FROM node:20-slim AS widget
WORKDIR /src
COPY widget_static/package.json widget_static/package-lock.json widget_static/
RUN npm ci --prefix widget_static --ignore-scripts --no-audit --no-fund
COPY widget_static/ widget_static/
RUN npm run --prefix widget_static build && node --test widget_static/tests/*.test.mjs

# --- the Python environment and the collected static files -----------------------------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /venv
COPY requirements.txt /src/requirements.txt
RUN /venv/bin/pip install -r /src/requirements.txt
COPY . /src
COPY --from=widget /src/widget_static/static/ /src/widget_static/static/
# collectstatic reads no secret and no database: dev mode's embedded defaults suffice here.
RUN cd /src && DJANGO_ENV=dev STATIC_ROOT=/public/static /venv/bin/python manage.py collectstatic --noinput -v 0 \
    && rm -rf /src/var

# --- the application image: web instances, worker and beat ----------------------------------
FROM python:3.11-slim AS app
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin chatorical
COPY --from=build /venv /venv
COPY --from=build /src /app
COPY --from=build /public /public
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_ENV=prod STATIC_ROOT=/public/static
WORKDIR /app
USER chatorical
EXPOSE 8000
STOPSIGNAL SIGTERM
CMD ["python", "-m", "chatorical.server", "-b", "0.0.0.0", "-p", "8000", "chatorical.asgi:application"]

# --- nginx with the repo's config and the static files ----------------------------------------
FROM nginx:1.27-bookworm AS nginx
COPY deploy/nginx/chatorical.conf /etc/nginx/conf.d/default.conf
COPY deploy/docker/nginx-upstreams.conf /etc/nginx/chatorical/upstreams.conf
COPY deploy/docker/nginx-site.conf /etc/nginx/chatorical/site.conf
COPY --from=build /public /srv/chatorical/public
