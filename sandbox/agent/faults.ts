// Fault injection for the emulated agent, so tests can prove the client survives what a real
// network and a real MGS can do to a session: lost sockets, lost or repeated acks, repeated,
// reordered, lost or corrupted output, paused publication and sessions closed with an error.
// Every fault is a budget that is used up as it fires; `fired` counts what actually happened so a
// test can assert the fault was exercised rather than silently skipped.

export interface FaultPlan {
  /** Terminate the WebSocket (once) right after this many Output messages went out on it. */
  dropSocketAfterOutputs?: number;
  /** With dropSocketAfterOutputs: drop this many sockets in turn, each after that many outputs (default 1). */
  dropSocketTimes?: number;
  /** Leave client messages unacknowledged (processed): the next `count`, or all for `durationMs`. */
  withholdAcks?: { count?: number; durationMs?: number };
  /** Send each of the next N acknowledgements twice. */
  duplicateAcks?: number;
  /** Send each of the next N Output messages twice. */
  duplicateOutputs?: number;
  /** Swap each of the next N Output messages with the message after it. */
  reorderOutputs?: number;
  /** Do not send the next N Output messages the first time (retransmission must recover them). */
  dropOutputs?: number;
  /** Send the next N Output messages with a wrong digest the first time. */
  corruptDigest?: number;
  /** After this many Output messages send pause_publication, and start_publication `durationMs` later. */
  pausePublication?: { afterOutputs: number; durationMs: number };
  /** After this many Output messages (default 0), kill the command; channel_closed carries `text`. */
  closeWithError?: { afterOutputs?: number; text: string };
}

export type FaultKind = Exclude<keyof FaultPlan, never>;

export type FaultCounters = Record<FaultKind, number>;

function emptyCounters(): FaultCounters {
  return {
    dropSocketAfterOutputs: 0,
    dropSocketTimes: 0,
    withholdAcks: 0,
    duplicateAcks: 0,
    duplicateOutputs: 0,
    reorderOutputs: 0,
    dropOutputs: 0,
    corruptDigest: 0,
    pausePublication: 0,
    closeWithError: 0,
  };
}

/** One session's faults: a private copy of the plan whose budgets the session consumes. */
export class SessionFaults {
  #plan: FaultPlan;
  #withholdUntil: number | undefined;
  readonly fired: FaultCounters = emptyCounters();

  constructor(plan: FaultPlan = {}) {
    this.#plan = structuredClone(plan);
  }

  replace(plan: FaultPlan): void {
    this.#plan = structuredClone(plan);
    this.#withholdUntil = undefined;
  }

  #take(
    kind: 'duplicateAcks' | 'duplicateOutputs' | 'reorderOutputs' | 'dropOutputs' | 'corruptDigest',
  ): boolean {
    const left = this.#plan[kind] ?? 0;
    if (left <= 0) return false;
    this.#plan[kind] = left - 1;
    this.fired[kind] += 1;
    return true;
  }

  /** Whether to skip acknowledging the client message being processed now. */
  withholdAck(now: number): boolean {
    const withhold = this.#plan.withholdAcks;
    if (!withhold) return false;
    if (withhold.durationMs !== undefined) {
      this.#withholdUntil ??= now + withhold.durationMs;
      if (now < this.#withholdUntil) {
        this.fired.withholdAcks += 1;
        return true;
      }
      delete this.#plan.withholdAcks;
      return false;
    }
    if ((withhold.count ?? 0) > 0) {
      withhold.count = (withhold.count ?? 0) - 1;
      this.fired.withholdAcks += 1;
      return true;
    }
    return false;
  }

  duplicateAck(): boolean {
    return this.#take('duplicateAcks');
  }

  duplicateOutput(): boolean {
    return this.#take('duplicateOutputs');
  }

  reorderOutput(): boolean {
    return this.#take('reorderOutputs');
  }

  dropOutput(): boolean {
    return this.#take('dropOutputs');
  }

  corruptDigest(): boolean {
    return this.#take('corruptDigest');
  }

  /** Called after each first send of an Output message with the count on this socket / in total. */
  dropSocketNow(outputsOnSocket: number): boolean {
    const after = this.#plan.dropSocketAfterOutputs;
    if (after === undefined || outputsOnSocket < after) return false;
    const left = (this.#plan.dropSocketTimes ?? 1) - 1;
    if (left > 0) this.#plan.dropSocketTimes = left;
    else delete this.#plan.dropSocketAfterOutputs;
    this.fired.dropSocketAfterOutputs += 1;
    return true;
  }

  pausePublicationNow(outputsTotal: number): { durationMs: number } | undefined {
    const pause = this.#plan.pausePublication;
    if (!pause || outputsTotal < pause.afterOutputs) return undefined;
    delete this.#plan.pausePublication;
    this.fired.pausePublication += 1;
    return { durationMs: pause.durationMs };
  }

  closeWithErrorNow(outputsTotal: number): string | undefined {
    const close = this.#plan.closeWithError;
    if (!close || outputsTotal < (close.afterOutputs ?? 0)) return undefined;
    delete this.#plan.closeWithError;
    this.fired.closeWithError += 1;
    return close.text;
  }
}

/** Faults for all sessions (applied to sessions opened after `set`) or for one session. */
export class FaultController {
  #global: FaultPlan = {};
  readonly #sessions = new Map<string, SessionFaults>();

  /** With a sessionId, replaces that session's faults; without, sets the plan new sessions start with. */
  set(plan: FaultPlan, sessionId?: string): void {
    if (sessionId === undefined) {
      this.#global = structuredClone(plan);
      return;
    }
    const existing = this.#sessions.get(sessionId);
    if (existing) existing.replace(plan);
    else this.#sessions.set(sessionId, new SessionFaults(plan));
  }

  clear(sessionId?: string): void {
    if (sessionId === undefined) this.#global = {};
    else this.#sessions.get(sessionId)?.replace({});
  }

  /** What fired so far in a session. */
  fired(sessionId: string): FaultCounters {
    return { ...(this.#sessions.get(sessionId)?.fired ?? emptyCounters()) };
  }

  /** The session's fault state, created from the global plan on first use. */
  forSession(sessionId: string): SessionFaults {
    let faults = this.#sessions.get(sessionId);
    if (!faults) {
      faults = new SessionFaults(this.#global);
      this.#sessions.set(sessionId, faults);
    }
    return faults;
  }
}
