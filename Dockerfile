# Switchyard router image: `docker build -t switchyard-router:0.1.0 .`
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY bin ./bin
COPY src ./src
COPY tsconfig.json tsconfig.build.json ./
RUN npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
# src/ stays beside dist/: bin/switchyard.js runs dist/ after checking it was built from these sources.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/bin ./bin
COPY --from=build /app/src ./src
COPY --from=build /app/dist ./dist
COPY --from=build /app/tsconfig.json /app/tsconfig.build.json ./
USER node
EXPOSE 8080 9090
ENTRYPOINT ["node", "--max-semi-space-size=8", "bin/switchyard.js"]
CMD ["serve", "--kubernetes"]
