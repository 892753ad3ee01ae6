// LoRA adapter slots of one simulated engine (vLLM's --max-loras): which adapters are resident and may run.
//
// An adapter is resident once loaded into a slot. A request for a resident adapter runs at once; for another
// known adapter it needs a free slot, or a resident adapter no running request uses (the least recently used
// such adapter is evicted), and pays the load delay in the step that admits it. Busy adapters are never evicted.

export type AdapterBusy = (name: string) => boolean;

export class LoraSlots {
  /** 0 = no limit. */
  readonly maxLoras: number;
  /** Resident adapters, least recently used first (a Set keeps insertion order). */
  readonly #resident = new Set<string>();
  /** Adapters loaded into a slot since start. */
  loads = 0;

  constructor(maxLoras: number) {
    if (!Number.isInteger(maxLoras) || maxLoras < 0) throw new RangeError(`maxLoras must be an integer >= 0, got ${maxLoras}`);
    this.maxLoras = maxLoras;
  }

  /** Resident adapters, least recently used first. */
  resident(): string[] {
    return [...this.#resident];
  }

  isResident(name: string): boolean {
    return this.#resident.has(name);
  }

  /** Whether a request for `name` could be admitted now (resident, a free slot, or an idle adapter to evict). */
  canAcquire(name: string, busy: AdapterBusy): boolean {
    if (this.#resident.has(name) || !this.#full()) return true;
    return this.#idleVictim(busy) !== undefined;
  }

  /**
   * Marks `name` most recently used, loading it first if it is not resident (evicting the least recently used idle
   * adapter when every slot is taken). Returns true when it had to be loaded. Call canAcquire first.
   */
  acquire(name: string, busy: AdapterBusy): boolean {
    if (this.#resident.delete(name)) {
      this.#resident.add(name);
      return false;
    }
    if (this.#full()) {
      const victim = this.#idleVictim(busy);
      if (victim === undefined) throw new Error(`no LoRA slot for ${name}: every resident adapter is busy`);
      this.#resident.delete(victim);
    }
    this.#resident.add(name);
    this.loads++;
    return true;
  }

  /** An unloaded adapter leaves its slot unless requests still run with it (it is evicted later like any other). */
  forget(name: string, busy: AdapterBusy): void {
    if (!busy(name)) this.#resident.delete(name);
  }

  #full(): boolean {
    return this.maxLoras > 0 && this.#resident.size >= this.maxLoras;
  }

  #idleVictim(busy: AdapterBusy): string | undefined {
    for (const name of this.#resident) if (!busy(name)) return name;
    return undefined;
  }
}
