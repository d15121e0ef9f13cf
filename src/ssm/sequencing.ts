// The two halves of the data channel's reliability layer (§4), without sockets or timers:
// IncomingSequencer puts received stream messages back in order and spots duplicates;
// OutgoingBuffer keeps what was sent until it is acknowledged and picks what to retransmit.
// Acks are selective, not cumulative, and only the oldest unacknowledged message is ever resent.
// The caller decides the policy (whom to ack, when to send); these classes only keep the books.

import type { Frame } from './codec.js';
import { RetransmissionTimer } from './rto.js';

/** Capacities of the plugin's incoming buffer; the agent's is 100000. */
export const INCOMING_BUFFER_CAPACITY = 10_000;

export type Arrival =
  /** The expected message, followed by any buffered ones it unblocked, in order. */
  | { kind: 'in-order'; deliver: Frame[] }
  /** Ahead of the expected one; buffered until the gap is filled. */
  | { kind: 'future' }
  /** Already delivered or already buffered. */
  | { kind: 'duplicate' }
  /** Ahead of the expected one but the buffer is full: dropped, and must not be acked. */
  | { kind: 'overflow' };

export class IncomingSequencer {
  #expected = 0;
  readonly #pending = new Map<number, Frame>();
  readonly #capacity: number;

  constructor(capacity = INCOMING_BUFFER_CAPACITY) {
    this.#capacity = capacity;
  }

  get expected(): number {
    return this.#expected;
  }

  /** Messages received ahead of a gap; non-zero at the end means output was lost. */
  get buffered(): number {
    return this.#pending.size;
  }

  accept(frame: Frame): Arrival {
    const seq = frame.sequenceNumber;
    if (seq < this.#expected) return { kind: 'duplicate' };
    if (seq > this.#expected) {
      if (this.#pending.has(seq)) return { kind: 'duplicate' };
      if (this.#pending.size >= this.#capacity) return { kind: 'overflow' };
      this.#pending.set(seq, frame);
      return { kind: 'future' };
    }
    const deliver = [frame];
    this.#expected += 1;
    for (let next = this.#pending.get(this.#expected); next; next = this.#pending.get(this.#expected)) {
      this.#pending.delete(this.#expected);
      deliver.push(next);
      this.#expected += 1;
    }
    return { kind: 'in-order', deliver };
  }
}

export interface OutgoingMessage {
  readonly sequenceNumber: number;
  readonly frame: Buffer;
  /** 0 while the message has never gone out (paused, disconnected). */
  lastSentAt: number;
  /** When the current connection first carried it; the give-up clock starts here. */
  firstSentAt: number;
  resends: number;
}

export class OutgoingBuffer {
  // A Map iterates in insertion order, which is sequence order: the first entry is the oldest.
  readonly #messages = new Map<number, OutgoingMessage>();
  readonly timer = new RetransmissionTimer();

  get size(): number {
    return this.#messages.size;
  }

  add(sequenceNumber: number, frame: Buffer): OutgoingMessage {
    const message: OutgoingMessage = { sequenceNumber, frame, lastSentAt: 0, firstSentAt: 0, resends: 0 };
    this.#messages.set(sequenceNumber, message);
    return message;
  }

  markSent(message: OutgoingMessage, now: number): void {
    if (message.lastSentAt !== 0) message.resends += 1;
    if (message.firstSentAt === 0) message.firstSentAt = now;
    message.lastSentAt = now;
  }

  /** Removes the acknowledged message and feeds its round trip to the RTO; false if unknown. */
  acknowledge(sequenceNumber: number, now: number): boolean {
    const message = this.#messages.get(sequenceNumber);
    if (!message) return false;
    if (message.lastSentAt !== 0) this.timer.observe(now - message.lastSentAt);
    this.#messages.delete(sequenceNumber);
    return true;
  }

  oldest(): OutgoingMessage | undefined {
    return this.#messages.values().next().value;
  }

  /** The oldest message when its retransmission timeout has passed. */
  dueForResend(now: number): OutgoingMessage | undefined {
    const oldest = this.oldest();
    if (!oldest || oldest.lastSentAt === 0) return undefined;
    return now - oldest.lastSentAt > this.timer.timeoutMs ? oldest : undefined;
  }

  /** Every buffered message, oldest first. */
  all(): OutgoingMessage[] {
    return [...this.#messages.values()];
  }

  /** A new connection cannot know what the old one delivered: restart the give-up clocks. */
  forgetSendTimes(): void {
    for (const message of this.#messages.values()) {
      message.lastSentAt = 0;
      message.firstSentAt = 0;
    }
  }
}
