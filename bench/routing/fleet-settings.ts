// The simulated engines of `npm run bench:routing` (the mock engine's batch simulator; see src/mock-engine/README.md).

export interface FleetEngineSettings {
  readonly engines: number;
  readonly maxNumSeqs: number;
  /** Chunked prefill: prompt tokens computed per step. */
  readonly maxNumBatchedTokens: number;
  readonly kvBlocks: number;
  readonly blockSize: number;
  readonly prefillMsPerToken: number;
  readonly decodeMsBase: number;
  readonly decodeMsPerSeq: number;
  readonly maxLoras: number;
  readonly loraLoadMs: number;
  /** Characters per token of the workload's text (for sizing the router's prefix LRU to the engine's KV). */
  readonly charsPerToken: number;
}
