/**
 * Base of every error this project raises on purpose. Each subclass fixes a stable `code`
 * (ERR_<AREA>_<WHAT>) so callers, apps and tests match on codes, never on message text.
 * The brand symbol keeps `instanceof` working when two copies of the module are loaded
 * (for instance once in a worker thread and once in the main thread).
 */
const brand = Symbol.for('offset-ts.error');

export class OffsetError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'OffsetError';
  }

  get [brand](): true {
    return true;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    // Subclasses inherit this method: for them the ordinary prototype check applies, so a
    // FileError is not mistaken for a TransportError. Only the base class matches by brand.
    if (this !== OffsetError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }
}

/** Narrow an unknown thrown value to a message suitable for a log line or a one-line CLI error. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Programmer errors crash; peer and user errors never reach this (they become typed errors). */
export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new Error(`invariant violated: ${message}`);
}
