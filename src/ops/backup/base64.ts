// A streaming base64 encoder with no line breaks, for uploads through the container's terminal: the
// script reads exactly 4·⌈n/3⌉ characters with `head -c`, so the length must be exact and nothing
// but the alphabet may cross (raw mode passes it untouched).

import { Transform, type TransformCallback } from 'node:stream';

export function encodedLength(size: number): number {
  return 4 * Math.ceil(size / 3);
}

export class Base64Encoder extends Transform {
  #rest: Buffer = Buffer.alloc(0);

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const bytes = this.#rest.length ? Buffer.concat([this.#rest, chunk]) : chunk;
    const whole = bytes.length - (bytes.length % 3);
    this.#rest = Buffer.from(bytes.subarray(whole));
    callback(null, whole > 0 ? Buffer.from(bytes.subarray(0, whole).toString('base64'), 'ascii') : undefined);
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.#rest.length ? Buffer.from(this.#rest.toString('base64'), 'ascii') : undefined);
  }
}
