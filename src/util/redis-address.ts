// A Redis address as the configuration gives it: the rate-limit store's `global.redis.address` and kvcache-aware's
// Kthena index (REDIS_HOST/REDIS_PORT or its `redisAddress` argument).

/** "host:port", "[v6]:port" or "host" (port 6379). */
export function parseAddress(address: string): { host: string; port: number } {
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(address);
  if (bracket !== null) return { host: bracket[1], port: bracket[2] === undefined ? 6379 : Number(bracket[2]) };
  const colon = address.lastIndexOf(':');
  if (colon < 0) return { host: address, port: 6379 };
  return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
}

/** Why `address` is not a "host:port" a Redis client can dial (a scheme, a port out of range …), or null. */
export function redisAddressProblem(address: string): string | null {
  if (address.includes('://')) return `must be "host:port" without a scheme, got ${JSON.stringify(address)}`;
  const { host, port } = parseAddress(address);
  if (host === '' || /[\s/]/.test(host)) return `must be "host:port", got ${JSON.stringify(address)}`;
  if (!Number.isInteger(port) || port < 1 || port > 65535 || !/^\[?[^\]]*\]?(?::\d{1,5})?$/.test(address)) {
    return `must be "host:port" with a port from 1 to 65535, got ${JSON.stringify(address)}`;
  }
  return null;
}
