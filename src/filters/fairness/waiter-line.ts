// A doubly linked list of waiters: O(1) append and removal from anywhere (an aborted waiter leaves at once), and an
// ordered insert for session-boosted waiters.

export interface LineNode<T extends LineNode<T>> {
  prev: T | null;
  next: T | null;
  line: WaiterLine<T> | null;
}

export class WaiterLine<T extends LineNode<T>> {
  first: T | null = null;
  last: T | null = null;
  size = 0;

  push(node: T): void {
    this.insertBefore(node, null);
  }

  /** Inserts before the first node for which `goesBefore(node, existing)` holds (stable: after equal ones). */
  insertOrdered(node: T, goesBefore: (node: T, existing: T) => boolean): void {
    let at = this.first;
    while (at !== null && !goesBefore(node, at)) at = at.next;
    this.insertBefore(node, at);
  }

  remove(node: T): void {
    if (node.line !== this) return;
    if (node.prev !== null) node.prev.next = node.next;
    else this.first = node.next;
    if (node.next !== null) node.next.prev = node.prev;
    else this.last = node.prev;
    node.prev = node.next = null;
    node.line = null;
    this.size--;
  }

  private insertBefore(node: T, before: T | null): void {
    node.line = this;
    node.next = before;
    node.prev = before === null ? this.last : before.prev;
    if (node.prev !== null) node.prev.next = node;
    else this.first = node;
    if (before !== null) before.prev = node;
    else this.last = node;
    this.size++;
  }
}
