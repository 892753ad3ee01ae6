// Sessions whose last turn completed recently: an LRU of session key → completion time (Kthena's SessionTracker).
export class SessionTracker {
  private readonly completed = new Map<string, number>();
  private capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  resize(capacity: number): void {
    this.capacity = capacity;
    this.evict();
  }

  markCompleted(sessionKey: string): void {
    this.completed.delete(sessionKey);
    this.completed.set(sessionKey, performance.now());
    this.evict();
  }

  /** When the session's last turn completed, or null when it is not remembered (does not refresh its recency). */
  completedAt(sessionKey: string): number | null {
    return this.completed.get(sessionKey) ?? null;
  }

  private evict(): void {
    while (this.completed.size > this.capacity) this.completed.delete(this.completed.keys().next().value as string);
  }
}
