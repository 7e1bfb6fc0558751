# The API as a container. Node 24 runs the TypeScript sources directly (type stripping): no build step.
# Pinned, so every rebuild runs the same Node; move it on deliberately.
FROM node:24.20.0-trixie-slim

WORKDIR /app
ENV NODE_ENV=production

COPY package.json package-lock.json ./
# Production dependencies only; the embedded PostgreSQL binary is not needed with DATABASE_URL but is a
# regular dependency, so it is installed too.
RUN npm ci --omit=dev && npm cache clean --force

COPY tsconfig.json ./
COPY src ./src

COPY schema ./schema

USER node
EXPOSE 4000
# Migrations run at start; SIGTERM drains in-flight commands and closes subscriptions.
CMD ["node", "src/main.ts"]
