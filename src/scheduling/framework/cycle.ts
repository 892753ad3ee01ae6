// The state of scheduling one request: what every plugin may read, computed at most once.
import type { PodEndpoint } from '../../snapshot/types.ts';
import type { ScheduleRequest } from '../pod-picker.ts';
import type { SchedulerObserver } from './observer.ts';
import { renderPrompt } from './prompt.ts';
import type { SchedulerProfile } from './types.ts';

export class SchedulingCycle {
  readonly request: ScheduleRequest;
  /** Time (ms) the cycle started; plugins judge freshness against it. */
  readonly now: number;
  /** The profile that scheduled the request; its hooks run when the request is served. */
  readonly profile: SchedulerProfile;
  /** Metrics sink; null when metrics are off or the cycle only explains a decision. */
  readonly observer: SchedulerObserver | null;
  /** Block hashes of the prompt, set by prefix-cache for its post-schedule hook (Kthena's Context.Hashes). */
  hashes: Float64Array | null = null;
  /** How many of `hashes` stand for whole blocks of the prompt (the last one may cover a partial block). */
  fullBlocks = 0;
  /** The first choice the request was sent to (set before the `picked` hooks run); null until then. */
  picked: PodEndpoint | null = null;
  /** Explaining only: per candidate index, what the current score plugin based its score on; null otherwise. */
  details: Map<number, Readonly<Record<string, number>>> | null = null;
  private promptText: string | null = null;
  private promptLimit = 0;

  constructor(request: ScheduleRequest, now: number, profile: SchedulerProfile, observer: SchedulerObserver | null = null) {
    this.request = request;
    this.now = now;
    this.profile = profile;
    this.observer = observer;
  }

  /** The request's prompt (ChatML for chat), at most `maxChars` long; '' when it has none. */
  prompt(maxChars: number): string {
    if (this.promptText === null || maxChars > this.promptLimit) {
      this.promptText = renderPrompt(this.request.body, maxChars, this.request.path);
      this.promptLimit = maxChars;
    }
    return this.promptText.length > maxChars ? this.promptText.slice(0, maxChars) : this.promptText;
  }
}
