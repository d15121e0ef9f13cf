// The retransmission timeout both SSM peers use (§4): Jacobson/Karels smoothing of acknowledged
// round trips, starting at 200 ms and capped at 1 s. Pure arithmetic so the client channel and the
// emulated agent compute the same schedule, and so it can be tested without clocks.

export const RETRANSMISSION = {
  initialTimeoutMs: 200,
  initialRoundTripMs: 100,
  checkIntervalMs: 100,
  clockGranularityMs: 10,
  maxTimeoutMs: 1000,
} as const;

export class RetransmissionTimer {
  #roundTrip: number = RETRANSMISSION.initialRoundTripMs;
  #variation = 0;
  #timeout: number = RETRANSMISSION.initialTimeoutMs;

  /** Milliseconds after which the oldest unacknowledged message is sent again. */
  get timeoutMs(): number {
    return this.#timeout;
  }

  /** Feeds one round trip: the time between the last (re)send of a message and its ack. */
  observe(sampleMs: number): void {
    const sample = Math.max(0, sampleMs);
    this.#variation = 0.75 * this.#variation + 0.25 * Math.abs(this.#roundTrip - sample);
    this.#roundTrip = 0.875 * this.#roundTrip + 0.125 * sample;
    const timeout = this.#roundTrip + Math.max(RETRANSMISSION.clockGranularityMs, 4 * this.#variation);
    this.#timeout = Math.min(timeout, RETRANSMISSION.maxTimeoutMs);
  }
}
