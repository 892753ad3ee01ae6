// Prefill/decode pairs for one request to a PD-disaggregated ModelServer, chosen through the same PodPicker as the
// aggregated path, so every filter and score plugin applies to both roles:
//   1. the decode pods of every group that has both roles are scheduled (pdRole "decode"): best first;
//   2. for a decode pod, the prefill pods of its own group are scheduled (pdRole "prefill"), once per group;
//   3. a pair is the first decode pod not excluded with the first prefill pod of its group not excluded.
// A pod that failed is excluded for the rest of the request, so a retry always goes to another pair (another decode
// pod, or the same decode pod with another prefill pod of its group).
import type { CompiledPd, CompiledServer, PodEndpoint } from '../snapshot/types.ts';
import type { PodPicker, ScheduleRequest } from './pod-picker.ts';

export interface PdPair {
  readonly prefill: PodEndpoint;
  readonly decode: PodEndpoint;
  /** The value of the groupKey label both pods carry. */
  readonly group: string;
}

export class PdPairPlanner {
  private readonly picker: PodPicker;
  private readonly base: ScheduleRequest;
  private readonly pd: CompiledPd;
  private decodeRequest: ScheduleRequest | null = null;
  private decodeOrder: readonly PodEndpoint[] | null = null;
  /** One request object per group: a picker may keep per-request state (post-schedule hooks) keyed by it. */
  private readonly prefill = new Map<string, { request: ScheduleRequest; order: readonly PodEndpoint[] }>();
  private readonly excluded = new Set<string>();

  /** `request` describes the client request; `request.server` must be PD-disaggregated (server.pd set). */
  constructor(picker: PodPicker, request: ScheduleRequest) {
    const pd = request.server.pd;
    if (pd === null) throw new Error(`ModelServer ${request.server.key} has no pdGroup`);
    this.picker = picker;
    this.base = request;
    this.pd = pd;
  }

  get server(): CompiledServer {
    return this.base.server;
  }

  /** True when no group has both a prefill and a decode pod ready. */
  get noGroupHasBothRoles(): boolean {
    return this.pd.decodePods.length === 0;
  }

  /** The best pair whose pods are not excluded, or null. Schedules lazily; repeated calls give the same pair. */
  next(): PdPair | null {
    for (const decode of this.decodeCandidates()) {
      if (this.excluded.has(decode.podKey)) continue;
      const group = this.pd.groupOf.get(decode.podKey);
      if (group === undefined) continue;
      const prefill = this.prefillCandidates(group).find((pod) => !this.excluded.has(pod.podKey));
      if (prefill !== undefined) return { prefill, decode, group };
    }
    return null;
  }

  /** `pod` failed for this request: no later pair uses it. */
  exclude(pod: PodEndpoint): void {
    this.excluded.add(pod.podKey);
  }

  /** Post-schedule hooks of both roles: `pair` served the request. */
  served(pair: PdPair): void {
    if (this.picker.served === undefined) return;
    if (this.decodeRequest !== null) this.picker.served(this.decodeRequest, pair.decode);
    const prefill = this.prefill.get(pair.group);
    if (prefill !== undefined) this.picker.served(prefill.request, pair.prefill);
  }

  private decodeCandidates(): readonly PodEndpoint[] {
    if (this.decodeOrder === null) {
      this.decodeRequest = { ...this.base, pdRole: 'decode' };
      this.decodeOrder = this.pd.decodePods.length === 0 ? [] : this.picker.schedule(this.decodeRequest, this.pd.decodePods);
    }
    return this.decodeOrder;
  }

  private prefillCandidates(group: string): readonly PodEndpoint[] {
    let entry = this.prefill.get(group);
    if (entry === undefined) {
      const request: ScheduleRequest = { ...this.base, pdRole: 'prefill' };
      const candidates = this.pd.prefillPodsByGroup.get(group) ?? [];
      entry = { request, order: candidates.length === 0 ? [] : this.picker.schedule(request, candidates) };
      this.prefill.set(group, entry);
    }
    return entry.order;
  }
}
