# The worker image: runs the workflows and activities on task queue redis-cluster.
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends redis-server redis-tools ca-certificates \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY examples ./examples
RUN npm run build
ENV TEMPORAL_ADDRESS=temporal:7233 TEMPORAL_NAMESPACE=default
CMD ["node", "lib/worker.js"]
