# The worker image: runs the workflows and activities on task queue redis-cluster.
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends redis-server redis-tools ca-certificates \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
COPY examples ./examples
# Compiles to lib/ and bundles the workflow code once, so that the worker does not run webpack at start.
RUN npm run build
ENV TEMPORAL_ADDRESS=temporal:7233 TEMPORAL_NAMESPACE=default RCO_WORKFLOW_BUNDLE=/app/lib/workflow-bundle.js
# The heap cap keeps a long copy near 250 MB RSS (WORKER_HEAP_FLAG in src/settings.ts).
CMD ["node", "--max-old-space-size=192", "lib/worker.js"]
