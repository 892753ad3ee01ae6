// One pod's KV event stream: a ZeroMQ SUB socket on the engine's PUB endpoint, and a DEALER on its replay ROUTER
// endpoint (vLLM's --kv-events-config replay_endpoint) to recover batches the SUB missed. Every batch carries a
// sequence number; the index is trusted only while it reflects an unbroken run of them:
//  - at start, and after every reconnect, the replay buffer is read from the last applied sequence number (0 at
//    start): the batch found there must be the one applied last (else the engine restarted: the index is cleared
//    and rebuilt from the buffer's start);
//  - a live batch after a gap triggers a replay of the gap;
//  - what cannot be recovered (no replay endpoint, the buffer no longer reaches back, a replay timing out) clears
//    the index, which then stays untrusted for `warmupMs` while the engine's events refill it.
// While untrusted or disconnected, `trusted()` is false and the plugin has no opinion on the pod.
import { Dealer, Subscriber } from 'zeromq';
import { PodBlockIndex } from './block-index.ts';
import { decodeKvEventBatch } from './wire.ts';

export interface KvEventCounters {
  /** Live batches received. */
  received(origin: string, count: number): void;
  /** Batches the index never saw (sequence numbers skipped and not recovered). */
  lost(origin: string, count: number): void;
  /** Batches recovered through the replay socket. */
  replayed(origin: string, count: number): void;
}

export interface SubscriptionOptions {
  readonly origin: string;
  /** tcp://host:port of the engine's PUB socket. */
  readonly endpoint: string;
  /** tcp://host:port of its replay ROUTER socket, or null. */
  readonly replayEndpoint: string | null;
  readonly warmupMs: number;
  readonly replayTimeoutMs: number;
  readonly counters: KvEventCounters | null;
  readonly onError?: (origin: string, message: string) => void;
}

interface Replayed {
  readonly seq: number;
  readonly payload: Buffer;
}

const END_OF_REPLAY = -1;

export class KvEventSubscription {
  readonly index = new PodBlockIndex();
  readonly origin: string;
  readonly #options: SubscriptionOptions;
  readonly #sub = new Subscriber();
  #dealer: Dealer | null = null;
  /** Sequence number and payload of the last batch applied; -1 before any. */
  #lastSeq = -1;
  #lastPayload: Buffer | null = null;
  #connected = false;
  #synced = false;
  #untrustedUntil = Infinity;
  #closed = false;
  /** Serialises replays and batch handling. */
  #work: Promise<void> = Promise.resolve();
  readonly #done: Promise<void>;

  constructor(options: SubscriptionOptions) {
    this.origin = options.origin;
    this.#options = options;
    this.#sub.events.on('handshake', () => {
      this.#connected = true;
      this.#enqueue(() => this.#resync());
    });
    this.#sub.events.on('disconnect', () => {
      this.#connected = false;
    });
    this.#sub.connect(options.endpoint);
    this.#sub.subscribe();
    this.#done = this.#consume();
  }

  /** True while the index reflects the engine's cache: connected, in sync, not warming up after a loss. */
  trusted(now: number): boolean {
    return this.#connected && this.#synced && now >= this.#untrustedUntil;
  }

  get lastSequence(): number {
    return this.#lastSeq;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#sub.close();
    this.#dealer?.close();
    this.#dealer = null;
    await this.#done.catch(() => undefined);
    this.index.clear();
  }

  async #consume(): Promise<void> {
    try {
      for await (const frames of this.#sub) {
        if (this.#closed) break;
        this.#options.counters?.received(this.origin, 1);
        await this.#work;
        this.#live(frames);
      }
    } catch (err) {
      if (!this.#closed) this.#options.onError?.(this.origin, `KV event socket failed: ${(err as Error).message}`);
    }
  }

  #enqueue(task: () => Promise<void>): void {
    this.#work = this.#work.then(task).catch((err: unknown) => this.#options.onError?.(this.origin, (err as Error).message));
  }

  #live(frames: Buffer[]): void {
    if (frames.length < 3 || frames[1].length !== 8) return this.#options.onError?.(this.origin, 'a KV event message must be [topic, 8-byte sequence, payload]');
    const seq = Number(frames[1].readBigInt64BE(0));
    const payload = frames[2];
    if (seq <= this.#lastSeq) return; // already applied (a replay covered it)
    if (seq === this.#lastSeq + 1) {
      this.#apply(seq, payload);
      return;
    }
    // A gap: recover it before going on (handling of later messages waits for this).
    this.#enqueue(() => this.#recoverGap(seq, payload));
  }

  async #recoverGap(seq: number, payload: Buffer): Promise<void> {
    if (seq <= this.#lastSeq + 1) {
      if (seq === this.#lastSeq + 1) this.#apply(seq, payload);
      return;
    }
    const from = this.#lastSeq + 1;
    const batches = await this.#replay(from);
    if (batches !== null && batches.length > 0 && batches[0].seq === from) {
      this.#applyReplayed(batches);
      if (seq === this.#lastSeq + 1) this.#apply(seq, payload);
      if (seq <= this.#lastSeq) return;
    }
    // Unrecoverable: start over from this batch, untrusted for a while.
    this.#options.counters?.lost(this.origin, Math.max(0, seq - this.#lastSeq - 1));
    this.#reset();
    this.#apply(seq, payload);
  }

  /** After (re)connecting: check continuity against the replay buffer and catch up. */
  async #resync(): Promise<void> {
    if (this.#closed) return;
    if (this.#options.replayEndpoint === null) {
      // Nothing to compare with: what the engine holds is unknown until its events have refilled the index.
      if (!this.#synced || this.#lastSeq >= 0) this.#reset();
      return;
    }
    const from = Math.max(0, this.#lastSeq);
    const batches = await this.#replay(from);
    if (batches === null) {
      this.#reset();
      return;
    }
    if (this.#lastSeq >= 0) {
      const first = batches[0];
      if (first !== undefined && first.seq === this.#lastSeq && this.#lastPayload !== null && first.payload.equals(this.#lastPayload)) {
        this.#applyReplayed(batches.slice(1));
        this.#synced = true;
        return;
      }
      // The engine restarted (or its buffer moved past us): what we knew is gone.
      this.index.clear();
      this.#lastSeq = -1;
      this.#lastPayload = null;
      return this.#resync();
    }
    if (batches.length === 0 || batches[0].seq === 0) {
      // The whole history (or none: a fresh engine).
      this.#applyReplayed(batches);
      this.#synced = true;
      this.#untrustedUntil = 0;
      return;
    }
    // The buffer no longer reaches back to the start: partial knowledge.
    this.#reset();
    this.#applyReplayed(batches);
  }

  /** Clears the index; it is trusted again after the warm-up. */
  #reset(): void {
    this.index.clear();
    this.#lastSeq = -1;
    this.#lastPayload = null;
    this.#synced = true;
    this.#untrustedUntil = Date.now() + this.#options.warmupMs;
  }

  #apply(seq: number, payload: Buffer): void {
    this.#lastSeq = seq;
    this.#lastPayload = payload;
    let batch;
    try {
      batch = decodeKvEventBatch(payload);
    } catch (err) {
      this.#options.onError?.(this.origin, `KV event batch ${seq} unreadable: ${(err as Error).message}`);
      return;
    }
    for (const event of batch.events) this.index.apply(event);
  }

  #applyReplayed(batches: readonly Replayed[]): void {
    let applied = 0;
    for (const { seq, payload } of batches) {
      if (seq !== this.#lastSeq + 1 && this.#lastSeq >= 0) {
        if (seq <= this.#lastSeq) continue;
        break;
      }
      this.#apply(seq, payload);
      applied++;
    }
    if (applied > 0) this.#options.counters?.replayed(this.origin, applied);
  }

  /** Batches from `from` on, as the replay socket has them; null when it cannot be asked or does not answer. */
  async #replay(from: number): Promise<Replayed[] | null> {
    const endpoint = this.#options.replayEndpoint;
    if (endpoint === null || this.#closed) return null;
    if (this.#dealer === null) {
      this.#dealer = new Dealer({ receiveTimeout: this.#options.replayTimeoutMs, linger: 0 });
      this.#dealer.connect(endpoint);
    }
    const dealer = this.#dealer;
    const start = Buffer.alloc(8);
    start.writeBigInt64BE(BigInt(from));
    const batches: Replayed[] = [];
    try {
      await dealer.send(['', start]);
      while (true) {
        const frames = await dealer.receive();
        // [empty delimiter, sequence, payload]
        const seqFrame = frames.length >= 3 ? frames[1] : frames[0];
        const payload = frames.length >= 3 ? frames[2] : frames[1];
        if (seqFrame === undefined || seqFrame.length !== 8) continue;
        const seq = Number(seqFrame.readBigInt64BE(0));
        if (seq === END_OF_REPLAY) return batches;
        if (seq >= from && payload !== undefined) batches.push({ seq, payload });
      }
    } catch (err) {
      // A late answer to this request must not be read as the answer to the next one: start a new socket.
      dealer.close();
      if (this.#dealer === dealer) this.#dealer = null;
      if (!this.#closed) this.#options.onError?.(this.origin, `KV event replay from ${from} failed: ${(err as Error).message}`);
      return null;
    }
  }
}
