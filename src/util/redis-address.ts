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
