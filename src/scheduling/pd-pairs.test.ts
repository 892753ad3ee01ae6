import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PodStateTable } from '../pods/pod-state.ts';
import { classifyPdPods } from '../snapshot/pd-groups.ts';
import type { CompiledServer, PodEndpoint } from '../snapshot/types.ts';
import { LeastRequestPicker } from './least-request-picker.ts';
import { PdPairPlanner } from './pd-pairs.ts';
import type { PodPicker, ScheduleRequest } from './pod-picker.ts';

const GROUP = 'group';
const ROLE = 'role';

function pod(name: string, role: 'P' | 'D', group: string, i: number): PodEndpoint {
  return {
    podKey: `default/${name}`,
    namespace: 'default',
    name,
    ip: `10.0.0.${i}`,
    port: 8000,
    origin: `http://10.0.0.${i}:8000`,
    labels: { app: 'm', [GROUP]: group, [ROLE]: role },
    annotations: {},
  };
}

const PODS = [pod('d-a', 'D', 'a', 1), pod('d-b', 'D', 'b', 2), pod('p-a0', 'P', 'a', 3), pod('p-a1', 'P', 'a', 4), pod('p-b', 'P', 'b', 5)];

function server(pods: readonly PodEndpoint[] = PODS): CompiledServer {
  return {
    key: 'default/pd',
    pods,
    pd: classifyPdPods({ groupKey: GROUP, prefillLabels: { [ROLE]: 'P' }, decodeLabels: { [ROLE]: 'D' } }, pods),
  } as CompiledServer;
}

function request(s: CompiledServer): ScheduleRequest {
  return { model: 'm', upstreamModel: 'm', isLora: false, server: s, rawHeaders: [] };
}

/** Orders candidates by a fixed preference (names first in `prefer` come first) and records every call. */
class RecordingPicker implements PodPicker {
  readonly calls: { role: string | undefined; candidates: string[]; request: ScheduleRequest }[] = [];
  readonly servedCalls: { role: string | undefined; pod: string; request: ScheduleRequest }[] = [];
  private readonly prefer: readonly string[];
  private readonly drop: readonly string[];
  constructor(prefer: readonly string[], drop: readonly string[] = []) {
    this.prefer = prefer;
    this.drop = drop;
  }
  schedule(req: ScheduleRequest, candidates: readonly PodEndpoint[]): readonly PodEndpoint[] {
    this.calls.push({ role: req.pdRole, candidates: candidates.map((p) => p.name), request: req });
    const rank = (p: PodEndpoint): number => {
      const at = this.prefer.indexOf(p.name);
      return at < 0 ? this.prefer.length : at;
    };
    return candidates.filter((p) => !this.drop.includes(p.name)).sort((x, y) => rank(x) - rank(y));
  }
  served(req: ScheduleRequest, p: PodEndpoint): void {
    this.servedCalls.push({ role: req.pdRole, pod: p.name, request: req });
  }
}

const pairNames = (planner: PdPairPlanner): string | null => {
  const pair = planner.next();
  return pair === null ? null : `${pair.decode.name}+${pair.prefill.name}@${pair.group}`;
};

describe('PdPairPlanner', () => {
  it('chooses the decode pod first, then a prefill pod of its group, both through the picker', () => {
    const picker = new RecordingPicker(['d-b', 'p-a1', 'p-b']);
    const planner = new PdPairPlanner(picker, request(server()));
    assert.equal(pairNames(planner), 'd-b+p-b@b');
    assert.deepEqual(picker.calls.map((c) => [c.role, c.candidates]), [
      ['decode', ['d-a', 'd-b']],
      ['prefill', ['p-b']],
    ]);
    assert.equal(pairNames(planner), 'd-b+p-b@b', 'the same pair until something is excluded');
    assert.equal(picker.calls.length, 2, 'each role scheduled once per group');
  });

  it('moves to another pair when a pod is excluded, never across groups', () => {
    const picker = new RecordingPicker(['d-a', 'p-a0', 'p-a1']);
    const planner = new PdPairPlanner(picker, request(server()));
    const first = planner.next()!;
    assert.equal(pairNames(planner), 'd-a+p-a0@a');
    planner.exclude(first.prefill); // the prefill failed: same decode, the group's other prefill
    assert.equal(pairNames(planner), 'd-a+p-a1@a');
    planner.exclude(planner.next()!.prefill); // group a has no prefill left: the next decode, with its own group
    assert.equal(pairNames(planner), 'd-b+p-b@b');
    planner.exclude(planner.next()!.decode);
    assert.equal(planner.next(), null);
  });

  it('skips a decode pod whose group prefills were all filtered out by the picker', () => {
    const picker = new RecordingPicker(['d-b', 'd-a'], ['p-b']);
    const planner = new PdPairPlanner(picker, request(server()));
    assert.equal(pairNames(planner), 'd-a+p-a0@a');
  });

  it('has no pair when no group has both roles', () => {
    const lonely = server([pod('d-a', 'D', 'a', 1), pod('p-b', 'P', 'b', 2)]);
    const picker = new RecordingPicker([]);
    const planner = new PdPairPlanner(picker, request(lonely));
    assert.equal(planner.noGroupHasBothRoles, true);
    assert.equal(planner.next(), null);
    assert.equal(picker.calls.length, 0, 'nothing to schedule');
  });

  it('runs the post-schedule hooks of both roles with the requests that scheduled them', () => {
    const picker = new RecordingPicker(['d-a', 'p-a1']);
    const planner = new PdPairPlanner(picker, request(server()));
    const pair = planner.next()!;
    planner.served(pair);
    assert.deepEqual(picker.servedCalls.map((c) => [c.role, c.pod]), [['decode', 'd-a'], ['prefill', 'p-a1']]);
    assert.equal(picker.servedCalls[0].request, picker.calls[0].request);
    assert.equal(picker.servedCalls[1].request, picker.calls[1].request);
  });

  it('with the least-request picker, prefers the idle decode pod and the idle prefill pod', () => {
    const states = new PodStateTable();
    states.get(PODS[0].origin).inFlight = 3; // d-a busy
    states.get('http://10.0.0.3:8000').inFlight = 2; // p-a0 busy
    const planner = new PdPairPlanner(new LeastRequestPicker(states), request(server()));
    assert.equal(pairNames(planner), 'd-b+p-b@b');
    states.get(PODS[0].origin).inFlight = 0;
    states.get(PODS[1].origin).inFlight = 5;
    assert.equal(pairNames(new PdPairPlanner(new LeastRequestPicker(states), request(server()))), 'd-a+p-a1@a');
  });

  it('refuses a server without pdGroup', () => {
    assert.throws(() => new PdPairPlanner(new RecordingPicker([]), request({ key: 'default/x', pd: null } as CompiledServer)), /no pdGroup/);
  });
});
