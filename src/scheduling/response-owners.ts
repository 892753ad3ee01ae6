// Which pod holds a stored Responses API response. vLLM keeps the responses it stores (for `previous_response_id`
// and GET /v1/responses/{id}) in the memory of the instance that produced them, so a follow-up that names one must
// go to that pod: anywhere else it is 404 "Response with id … not found". Learnt from each answered
// /v1/responses request; bounded, oldest forgotten first. Each router replica knows the responses it relayed.

/** Responses remembered; at ~150 bytes an entry, about 15 MB. */
const DEFAULT_CAPACITY = 100_000;

export class ResponseOwners {
  private readonly capacity: number;
  /** response id → pod key ("namespace/name"), oldest first (Map insertion order). */
  private readonly owners = new Map<string, string>();

  constructor(capacity = DEFAULT_CAPACITY) {
    this.capacity = capacity;
  }

  remember(responseId: string, podKey: string): void {
    this.owners.delete(responseId);
    this.owners.set(responseId, podKey);
    if (this.owners.size > this.capacity) this.owners.delete(this.owners.keys().next().value as string);
  }

  /** The pod that produced `responseId`, or undefined when this router did not relay it (or has forgotten it). */
  ownerOf(responseId: string): string | undefined {
    return this.owners.get(responseId);
  }

  get size(): number {
    return this.owners.size;
  }
}
