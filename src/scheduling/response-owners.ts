// Which pod holds a stored Responses API response. vLLM keeps the responses it stores (for `previous_response_id`
// and GET /v1/responses/{id}) in the memory of the instance that produced them, so a follow-up that names one must
// go to that pod: anywhere else it is 404 "Response with id … not found". Learnt from each answered
// /v1/responses request; bounded, oldest forgotten first. Each router replica knows the responses it relayed.

/** Responses remembered; at ~200 bytes an entry, about 20 MB. */
const DEFAULT_CAPACITY = 100_000;

export interface ResponseOwner {
  /** The pod that stored it ("namespace/name"). */
  readonly podKey: string;
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

  constructor(capacity = DEFAULT_CAPACITY) {
    this.capacity = capacity;
  }

  remember(responseId: string, owner: ResponseOwner): void {
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
