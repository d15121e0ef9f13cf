// The read path's defence layers. Each is meant to hold on its own, so the tests switch them off one
// at a time and check that the others still keep the database unchanged. Only a library caller can
// switch a layer off (createContext({ disabledLayers })): no flag, environment variable or profile
// field can, because whoever controls those is exactly who the layers defend against.

export const SAFETY_LAYERS = [
  /** The parse-tree guard (src/sql/guard.ts): classifies statements before anything is sent. */
  'guard',
  /** The live catalog's view of every function a statement can reach (volatility, allow-list). */
  'function-catalog',
  /** One statement per protocol message (extended protocol; psql's \bind or a server-side check). */
  'single-statement',
  /** default_transaction_read_only for the whole session, not only the transaction. */
  'session-read-only',
  /** BEGIN TRANSACTION READ ONLY around every read. */
  'transaction-read-only',
  /** Ending the session when a watched setting (ParameterStatus) changes under it. */
  'settings-watch',
] as const;

export type SafetyLayer = (typeof SAFETY_LAYERS)[number];

/** Which layers are off; empty (every layer on) unless a test says otherwise. */
export type DisabledLayers = ReadonlySet<SafetyLayer>;

export const ALL_LAYERS_ON: DisabledLayers = new Set();

export function layerOn(disabled: DisabledLayers | undefined, layer: SafetyLayer): boolean {
  return !disabled?.has(layer);
}
