import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PodEndpoint } from '../../snapshot/types.ts';
import { makeCycle, makeEnv, makePods, makeRequest, runScore, type TestEnv } from '../framework/test-support.ts';
import type { SessionAffinityPlugin} from './session-affinity.ts';
import { headerValue, sessionAffinityPlugin } from './session-affinity.ts';

const create = (args: Record<string, unknown> = {}): { env: TestEnv; plugin: SessionAffinityPlugin } => {
  const env = makeEnv();
  return { env, plugin: sessionAffinityPlugin.create(sessionAffinityPlugin.args.parse(args), env) as SessionAffinityPlugin };
};
const withSession = (id: string, header = 'X-Session-ID') => makeCycle(makeRequest({ rawHeaders: ['Host', 'router', header, id] }));
const chosen = (plugin: SessionAffinityPlugin, pods: readonly PodEndpoint[], id: string, alive?: Uint8Array): string | null => {
  const scores = runScore(plugin, pods, withSession(id), alive);
  const best = scores.indexOf(100);
  return best < 0 ? null : pods[best].name;
};

describe('session-affinity', () => {
  const pods = makePods(4);

  describe('args', () => {
    it('defaults', () => assert.deepEqual(sessionAffinityPlugin.args.parse({}), { headerName: 'x-session-id', loadFactor: 1.25, virtualNodes: 100 }));
    it('lower-cases the header name', () => assert.equal((sessionAffinityPlugin.args.parse({ headerName: 'X-Conversation' }) as { headerName: string }).headerName, 'x-conversation'));
    for (const bad of [{ headerName: 'bad header' }, { loadFactor: 0.5 }, { virtualNodes: 5000 }, { ttl: '30m' }]) {
      it(`rejects ${JSON.stringify(bad)}`, () => assert.equal(sessionAffinityPlugin.args.safeParse(bad).success, false));
    }
  });

  it('has no opinion without the header', () => {
    const { plugin } = create();
    assert.ok(runScore(plugin, pods, makeCycle()).every(Number.isNaN));
  });

  it('scores one pod 100 and the others 0', () => {
    const { plugin } = create();
    assert.deepEqual([...runScore(plugin, pods, withSession('s1'))].sort(), [0, 0, 0, 100]);
  });

  it('sends a session to the same pod every time, with the same pods in a new list', () => {
    const { plugin } = create();
    const first = chosen(plugin, pods, 'conversation-42');
    for (let i = 0; i < 20; i++) assert.equal(chosen(plugin, pods, 'conversation-42'), first);
    assert.equal(chosen(plugin, makePods(4), 'conversation-42'), first, 'the ring depends on pod keys only');
  });

  it('spreads sessions over the pods', () => {
    const { plugin } = create();
    const counts = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const pod = chosen(plugin, pods, `session-${i}`)!;
      counts.set(pod, (counts.get(pod) ?? 0) + 1);
    }
    assert.equal(counts.size, 4);
    for (const [pod, count] of counts) assert.ok(count > 40, `${pod} got only ${count} of 400`);
  });

  it('moves a session off an unhealthy or filtered-out pod, to the same fallback each time, and back', () => {
    const { env, plugin } = create();
    const home = chosen(plugin, pods, 'abc')!;
    const homeIndex = pods.findIndex((p) => p.name === home);
    env.podStates.reportProbe(pods[homeIndex].origin, false, 'down');
    const fallback = chosen(plugin, pods, 'abc');
    assert.ok(fallback !== null && fallback !== home);
    assert.equal(chosen(plugin, pods, 'abc'), fallback);
    const alive = new Uint8Array(4).fill(1);
    env.podStates.reportProbe(pods[homeIndex].origin, true, null);
    assert.equal(chosen(plugin, pods, 'abc'), home, 'back when healthy again');
    alive[homeIndex] = 0;
    assert.equal(chosen(plugin, pods, 'abc', alive), fallback);
  });

  describe('bounded load: inFlight + 1 <= ceil(c·(total + 1)/pods)', () => {
    const cases: { name: string; homeLoad: number; otherLoad: number; stays: boolean }[] = [
      { name: 'stays while idle', homeLoad: 0, otherLoad: 0, stays: true },
      { name: 'stays at the bound', homeLoad: 5, otherLoad: 4, stays: true }, // total 17: ceil(1.25·18/4) = 6
      { name: 'moves above the bound', homeLoad: 6, otherLoad: 4, stays: false }, // total 18: ceil(1.25·19/4) = 6
      { name: 'moves when one hot session swamps its pod', homeLoad: 20, otherLoad: 0, stays: false },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const { env, plugin } = create();
        const home = chosen(plugin, pods, 'hot')!;
        for (const pod of pods) env.podStates.get(pod.origin).inFlight = pod.name === home ? c.homeLoad : c.otherLoad;
        assert.equal(chosen(plugin, pods, 'hot') === home, c.stays);
      });
    }
  });

  it('reads a configured header name', () => {
    const { plugin } = create({ headerName: 'x-user' });
    assert.ok(runScore(plugin, pods, withSession('u1')).every(Number.isNaN));
    assert.ok(runScore(plugin, pods, withSession('u1', 'X-User')).includes(100));
  });

  it('headerValue finds the first value, case-insensitively', () => {
    assert.equal(headerValue(['A', '1', 'x-Session-Id', ' v ', 'x-session-id', 'w'], 'x-session-id'), 'v');
    assert.equal(headerValue(['A', '1'], 'x-session-id'), null);
  });
});
