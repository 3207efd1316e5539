# syntax=docker/dockerfile:1
# One image for every role: `serve` (the default), `worker` and the CLI (`migrate`, `tenant`...).
# Build: docker build -t llm-backend .   Run: docker run llm-backend [serve|worker|migrate|...]

ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# Production dependencies only, from the lockfile: what the runtime stage copies.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# Every dependency, to compile src/ into dist/; nothing of this stage but dist/ is kept.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs scripts/build.mjs
COPY src src
COPY web web
RUN node scripts/build.mjs

FROM ${NODE_IMAGE} AS runtime
# tini as PID 1 forwards SIGTERM to node (which drains: see docs/configuration.md, "Graceful
# shutdown") and reaps any child a CLI command leaves behind.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
  HOST=0.0.0.0 \
  PORT=8000 \
  DATA_DIR=/data \
  CONFIG_FILE=/app/config/llm-backend.yaml
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules node_modules
COPY --from=build --chown=root:root /app/dist dist
COPY --chown=root:root package.json ./
COPY --chown=root:root config config
# The code is owned by root and read-only to the process; the only place it writes is the
# data volume (embedded databases, first-start keys, tenant exports), owned by the `node`
# user (uid 1000) that the base image provides. With the root filesystem read-only, mount a
# volume (or tmpfs) on /data and a tmpfs on /tmp.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 8000
# The image's default role is the gateway; a worker or one-off command overrides it (compose
# and the Helm chart give the worker a check of its own).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/cli.js"]
CMD ["serve"]

# The release workflow adds source, version and revision labels from the repository and tag.
ARG VERSION=dev
LABEL org.opencontainers.image.title="llm-backend" \
  org.opencontainers.image.description="Self-hosted, multi-tenant LLM gateway with an OpenAI-compatible API" \
  org.opencontainers.image.licenses="MIT" \
  org.opencontainers.image.version="${VERSION}"
