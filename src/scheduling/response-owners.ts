// Which pod (or OpenAI provider) holds a stored Responses API response. vLLM keeps the responses it stores (for `previous_response_id`
// and GET /v1/responses/{id}) in the memory of the instance that produced them, so a follow-up that names one must
// go to that pod: anywhere else it is 404 "Response with id … not found". Learnt from each answered
// /v1/responses request; bounded, oldest forgotten first. Each router replica knows the responses it relayed, and,
// with a shared Redis (shared-response-owners.ts), those every replica relayed.
import type { SharedOwnerLookup, SharedResponseOwners } from './shared-response-owners.ts';

/** Responses remembered; at ~200 bytes an entry, about 20 MB. */
const DEFAULT_CAPACITY = 100_000;

export interface ResponseOwner {
  /** The pod that stored it ("namespace/name"). */
  readonly podKey: string;
  /** The ModelServer that pod served it for ("namespace/name"): where it is looked for, whatever target a route picks now. */
  readonly server: string;
  /** An ExternalModelProvider (OpenAI) that stored it instead of a pod ("namespace/name"; podKey and server are ''). */
  readonly provider?: string;
  /** The model the client asked for: requests on the stored response are routed (and authorised) as that model's. */
  readonly model: string;
  /** The authenticated caller that created it (null: anonymous); only that caller may reach it again. */
  readonly user: string | null;
  /**
   * A background response (`background: true`) whose output tokens no rate limit has been charged yet: its answer
   * came before the generation. They are charged when the caller first fetches it done (stored-responses.ts).
   */
  outputUnmetered: boolean;
}

export class ResponseOwners {
  private readonly capacity: number;
  /** response id → its owner, oldest first (Map insertion order). */
  private readonly owners = new Map<string, ResponseOwner>();
  /** The replicas' shared record, or null (this replica alone). */
  readonly shared: SharedResponseOwners | null;

  constructor(capacity = DEFAULT_CAPACITY, shared: SharedResponseOwners | null = null) {
    this.capacity = capacity;
    this.shared = shared;
  }

  /** Records the owner of a response this replica relayed (for the other replicas too), or changed (charged). */
  remember(responseId: string, owner: ResponseOwner): void {
    this.keep(responseId, owner);
    this.shared?.write(responseId, owner);
  }

  /** The owner here, else in the shared record (then kept here too), within `timeoutMs`. */
  async find(responseId: string, timeoutMs: number): Promise<SharedOwnerLookup> {
    const local = this.owners.get(responseId);
    if (local !== undefined || this.shared === null) return { ok: true, owner: local };
    const found = await this.shared.lookup(responseId, timeoutMs);
    if (found.ok && found.owner !== undefined) this.keep(responseId, found.owner);
    return found;
  }

  /**
   * Whether `owner` (known here) still has output to charge, as the shared record says: another replica may have
   * charged it since this one learnt it. Left as it is when the record does not answer within `timeoutMs`.
   */
  async refreshUnmetered(responseId: string, owner: ResponseOwner, timeoutMs: number): Promise<void> {
    if (this.shared === null || !owner.outputUnmetered) return;
    const found = await this.shared.lookup(responseId, timeoutMs);
    if (found.ok && found.owner !== undefined && !found.owner.outputUnmetered) owner.outputUnmetered = false;
  }

  private keep(responseId: string, owner: ResponseOwner): void {
    this.owners.delete(responseId);
    this.owners.set(responseId, owner);
    if (this.owners.size > this.capacity) this.owners.delete(this.owners.keys().next().value as string);
  }

  /** Where `responseId` is stored, or undefined when this router did not relay it (or has forgotten it). */
  ownerOf(responseId: string): ResponseOwner | undefined {
    return this.owners.get(responseId);
  }

  get size(): number {
    return this.owners.size;
  }
}
