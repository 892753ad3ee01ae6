// Deadlines for the per-attempt response timeout (trafficPolicy.timeout) without a timer per attempt. Attempts with
// the same timeout get their deadlines in the order they start, so one FIFO list per timeout value is sorted by
// deadline: adding is an append, cancelling an unlink (the node is the attempt itself, nothing is allocated), and one
// timer per list, armed for the oldest deadline, does the rest. Under steady load that timer fires about once per
// timeout period instead of a setTimeout + clearTimeout per request (~1 µs each, plus a Timeout object).

export abstract class DeadlineNode {
  /** performance.now() at which the deadline passes. */
  deadlineAt = 0;
  deadlineList: DeadlineList | null = null;
  deadlinePrev: DeadlineNode | null = null;
  deadlineNext: DeadlineNode | null = null;

  /** The deadline passed (the node is off its list already). */
  abstract deadlinePassed(): void;
}

export class DeadlineList {
  readonly durationMs: number;
  private head: DeadlineNode | null = null;
  private tail: DeadlineNode | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(durationMs: number) {
    this.durationMs = durationMs;
  }

  /** Starts `node`'s deadline: durationMs from now. The node must not be on a list. */
  add(node: DeadlineNode): void {
    node.deadlineAt = performance.now() + this.durationMs;
    node.deadlineList = this;
    node.deadlinePrev = this.tail;
    node.deadlineNext = null;
    if (this.tail === null) this.head = node;
    else this.tail.deadlineNext = node;
    this.tail = node;
    // An armed timer is due no later than this deadline: it was armed for an earlier node's.
    if (this.timer === null) this.arm(node.deadlineAt);
  }

  /** Cancels `node`'s deadline; nothing happens if it is not on this list. */
  remove(node: DeadlineNode): void {
    if (node.deadlineList !== this) return;
    const { deadlinePrev: prev, deadlineNext: next } = node;
    if (prev === null) this.head = next;
    else prev.deadlineNext = next;
    if (next === null) this.tail = prev;
    else next.deadlinePrev = prev;
    node.deadlineList = null;
    node.deadlinePrev = null;
    node.deadlineNext = null;
  }

  private arm(at: number): void {
    // Unref'd: a request waiting for its pod is kept alive by its socket, not by its deadline.
    this.timer = setTimeout(this.fire, Math.max(1, Math.ceil(at - performance.now()))).unref();
  }

  private readonly fire = (): void => {
    // `timer` stays set while deadlines pass, so that attempts started from deadlinePassed() do not arm one.
    const now = performance.now();
    try {
      let node = this.head;
      while (node !== null && node.deadlineAt <= now) {
        this.remove(node);
        node.deadlinePassed();
        node = this.head;
      }
    } finally {
      this.timer = null;
      if (this.head !== null) this.arm(this.head.deadlineAt);
    }
  };
}

const lists = new Map<number, DeadlineList>();

/** The list of deadlines `durationMs` long (one per distinct timeout, shared by every exchange). */
export function deadlineList(durationMs: number): DeadlineList {
  let list = lists.get(durationMs);
  if (list === undefined) {
    list = new DeadlineList(durationMs);
    lists.set(durationMs, list);
  }
  return list;
}
