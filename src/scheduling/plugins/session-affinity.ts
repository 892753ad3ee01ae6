// session-affinity (score): requests carrying the same session header go to the same pod, by consistent hashing
// with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2018). Each ModelServer's pods sit on a hash ring with
// `virtualNodes` points each (built once per pod list). A session hashes to a point on the ring and walks clockwise
// to the first pod that is still a candidate, healthy, and below the load bound
//     inFlight + 1 <= ceil(loadFactor · (total in flight + 1) / pods),
// so a session stays on its pod while that pod is healthy and not overloaded, and one hot session cannot swamp it:
// its overflow moves to the next pod on the ring, the same one for every request of the session.
// The chosen pod scores 100 and the others 0; without the header the plugin has no opinion. To make the binding
// win over the other plugins, give it a weight above the sum of theirs.
import { z } from 'zod';
import type { PodEndpoint } from '../../snapshot/types.ts';
import type { SchedulingCycle } from '../framework/cycle.ts';
import type { PluginEnv, SchedulerPlugin } from '../framework/types.ts';
import { hash32 } from './hash.ts';
import { countArg, definePlugin } from './plugin-definition.ts';

export const SESSION_AFFINITY = 'session-affinity';

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const args = z.strictObject({
  headerName: z
    .string()
    .regex(HEADER_NAME, 'must be an HTTP header name')
    .nullish()
    .transform((value) => (value ?? 'x-session-id').toLowerCase()),
  loadFactor: z
    .number()
    .min(1, 'must be at least 1 (1 = perfectly even loads, larger = stickier)')
    .max(100)
    .nullish()
    .transform((value) => value ?? 1.25),
  virtualNodes: countArg(100, 1000),
});

export type SessionAffinityArgs = z.output<typeof args>;

interface Ring {
  /** Sorted hash points. */
  readonly points: Uint32Array;
  /** Pod index (in the candidate list) of each point. */
  readonly owners: Int32Array;
  /** Scratch: pods already examined by the current walk. */
  readonly visited: Uint8Array;
}

export class SessionAffinityPlugin implements SchedulerPlugin {
  readonly name = SESSION_AFFINITY;
  readonly headerName: string;
  private readonly loadFactor: number;
  private readonly virtualNodes: number;
  private readonly env: PluginEnv;
  private readonly rings = new WeakMap<readonly PodEndpoint[], Ring>();

  constructor(options: SessionAffinityArgs, env: PluginEnv) {
    this.headerName = options.headerName;
    this.loadFactor = options.loadFactor;
    this.virtualNodes = options.virtualNodes;
    this.env = env;
  }

  score(cycle: SchedulingCycle, pods: readonly PodEndpoint[], alive: Uint8Array, out: Float64Array): void {
    const session = headerValue(cycle.request.rawHeaders, this.headerName);
    if (session === null || session === '') return;
    const chosen = this.pick(session, pods, alive, cycle.now);
    if (chosen < 0) return;
    for (let i = 0; i < pods.length; i++) if (alive[i] !== 0) out[i] = i === chosen ? 100 : 0;
  }

  /** Index of the session's pod among `pods`, or -1 when no candidate can take it. */
  pick(session: string, pods: readonly PodEndpoint[], alive: Uint8Array, now: number): number {
    const ring = this.ringOf(pods);
    let total = 0;
    let candidates = 0;
    for (let i = 0; i < pods.length; i++) {
      if (alive[i] === 0) continue;
      total += this.env.podStates.peek(pods[i].origin)?.inFlight ?? 0;
      candidates++;
    }
    if (candidates === 0) return -1;
    const capacity = Math.ceil((this.loadFactor * (total + 1)) / candidates);
    const { points, owners, visited } = ring;
    visited.fill(0);
    let position = lowerBound(points, hash32(session));
    for (let step = 0, seen = 0; step < points.length && seen < pods.length; step++, position++) {
      if (position === points.length) position = 0;
      const i = owners[position];
      if (visited[i] !== 0) continue;
      visited[i] = 1;
      seen++;
      if (alive[i] === 0) continue;
      const state = this.env.podStates.peek(pods[i].origin);
      if (state !== undefined && !state.isHealthy(now)) continue;
      if ((state?.inFlight ?? 0) + 1 <= capacity) return i;
    }
    return -1;
  }

  private ringOf(pods: readonly PodEndpoint[]): Ring {
    let ring = this.rings.get(pods);
    if (ring === undefined) {
      ring = buildRing(pods, this.virtualNodes);
      this.rings.set(pods, ring);
    }
    return ring;
  }
}

/** Points are placed by pod key (namespace/name), so a pod keeps its arcs across reloads and IP changes. */
function buildRing(pods: readonly PodEndpoint[], virtualNodes: number): Ring {
  const entries: [number, number][] = [];
  pods.forEach((pod, i) => {
    for (let v = 0; v < virtualNodes; v++) entries.push([hash32(`${pod.podKey}#${v}`), i]);
  });
  entries.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return {
    points: Uint32Array.from(entries, (e) => e[0]),
    owners: Int32Array.from(entries, (e) => e[1]),
    visited: new Uint8Array(pods.length),
  };
}

/** First index whose point is >= value (points.length when none). */
function lowerBound(points: Uint32Array, value: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first value of a header (`name` in lower case) from Node's rawHeaders list. */
export function headerValue(rawHeaders: readonly string[], name: string): string | null {
  for (let k = 0; k + 1 < rawHeaders.length; k += 2) {
    const key = rawHeaders[k];
    if (key.length === name.length && key.toLowerCase() === name) return rawHeaders[k + 1].trim();
  }
  return null;
}

export const sessionAffinityPlugin = definePlugin({
  name: SESSION_AFFINITY,
  filter: false,
  score: true,
  args,
  create: (options, env) => new SessionAffinityPlugin(options, env),
});
