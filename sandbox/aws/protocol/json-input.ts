// Typed reads of a JSON request's members, failing the way the service does (ECS says
// `InvalidParameterException`, most others `ValidationException`) when a member is missing or has
// the wrong type.

import { AwsError } from '../errors.js';

export class JsonInput {
  readonly raw: Record<string, unknown>;
  readonly #invalid: string;

  constructor(raw: Record<string, unknown>, invalidCode = 'ValidationException') {
    this.raw = raw;
    this.#invalid = invalidCode;
  }

  fail(message: string): never {
    throw new AwsError(this.#invalid, message);
  }

  string(name: string): string | undefined {
    const v = this.raw[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') this.fail(`${name} must be a string.`);
    return v;
  }

  requiredString(name: string): string {
    const v = this.string(name);
    if (v === undefined || v === '') this.fail(`${name} is required and must not be empty.`);
    return v;
  }

  number(name: string): number | undefined {
    const v = this.raw[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(`${name} must be a number.`);
    return v;
  }

  boolean(name: string): boolean | undefined {
    const v = this.raw[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') this.fail(`${name} must be a boolean.`);
    return v;
  }

  stringList(name: string): string[] | undefined {
    const v = this.raw[name];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
      this.fail(`${name} must be a list of strings.`);
    }
    return v as string[];
  }

  stringMap(name: string): Record<string, string> | undefined {
    const v = this.raw[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) {
      this.fail(`${name} must be a map of strings.`);
    }
    return v as Record<string, string>;
  }

  /** A map whose values are lists of strings (SSM StartSession Parameters). */
  stringListMap(name: string): Record<string, string[]> | undefined {
    const v = this.raw[name];
    if (v === undefined || v === null) return undefined;
    const ok =
      typeof v === 'object' &&
      !Array.isArray(v) &&
      Object.values(v).every((x) => Array.isArray(x) && x.every((s) => typeof s === 'string'));
    if (!ok) this.fail(`${name} must be a map of string lists.`);
    return v as Record<string, string[]>;
  }

  /** A base64 blob member, decoded. */
  blob(name: string): Buffer | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v)) this.fail(`${name} must be base64.`);
    return Buffer.from(v, 'base64');
  }
}
