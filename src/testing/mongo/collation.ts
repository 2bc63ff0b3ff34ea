import type { Document } from 'bson';
import { BsonValues } from './bson-values.js';
import { CommandError } from './command-error.js';

/**
 * A MongoDB collation (`{locale, strength, caseLevel, numericOrdering, ...}`)
 * as ICU-backed `Intl.Collator` ordering plus a folding function for
 * matching: at strength 1 strings match ignoring case and diacritics, at
 * strength 2 ignoring case (the manual's "Collation" page). `locale: 'simple'`
 * and an absent collation mean binary comparison (`Collation.of` → undefined).
 */
export class Collation {
  readonly spec: Document;
  readonly strength: number;
  readonly #collator: Intl.Collator;
  readonly #caseLevel: boolean;

  private constructor(spec: Document) {
    this.spec = spec;
    this.strength = typeof spec.strength === 'number' ? spec.strength : 3;
    this.#caseLevel = spec.caseLevel === true;
    const sensitivity = this.strength === 1 ? (this.#caseLevel ? 'case' : 'base') : this.strength === 2 ? 'accent' : 'variant';
    const caseFirst = spec.caseFirst === 'upper' || spec.caseFirst === 'lower' ? spec.caseFirst : 'false';
    // V8's ignorePunctuation is ICU's alternate=shifted with the default maxVariable (punct), mongod's defaults too.
    const ignorePunctuation = spec.alternate === 'shifted';
    this.#collator = new Intl.Collator(String(spec.locale), {
      sensitivity,
      numeric: spec.numericOrdering === true,
      caseFirst,
      ignorePunctuation,
      usage: 'sort',
    });
  }

  /**
   * The effective collation of a command: its own, else the collection's default.
   * @throws CommandError 2 when `locale` is missing.
   */
  static of(requested: unknown, collectionDefault?: unknown): Collation | undefined {
    const spec = requested ?? collectionDefault;
    if (spec === undefined || spec === null) return undefined;
    if (!BsonValues.isPlainObject(spec) || typeof spec.locale !== 'string') {
      throw new CommandError('BadValue', 'Missing expected field "locale"');
    }
    if (spec.locale === 'simple') return undefined;
    // What Intl.Collator cannot express is refused rather than silently ignored.
    const unsupported =
      typeof spec.strength === 'number' && spec.strength > 3
        ? `strength ${spec.strength}`
        : spec.backwards === true
          ? 'backwards'
          : spec.maxVariable === 'space'
            ? "maxVariable 'space'"
            : undefined;
    if (unsupported) throw new CommandError('CommandNotSupported', `the collation option ${unsupported} is not supported by the MongoDB stand-in`);
    return new Collation(spec);
  }

  /**
   * The collation as mongod reports it in listIndexes and listCollections:
   * every option filled in with ICU's defaults (manual, reference/collation),
   * `version` the ICU collator version mongod reports. Locale-specific
   * defaults (e.g. `backwards` for fr_CA) are not filled in.
   */
  get described(): Document {
    const spec = this.spec;
    return {
      locale: spec.locale,
      caseLevel: spec.caseLevel === true,
      caseFirst: typeof spec.caseFirst === 'string' ? spec.caseFirst : 'off',
      strength: this.strength,
      numericOrdering: spec.numericOrdering === true,
      alternate: typeof spec.alternate === 'string' ? spec.alternate : 'non-ignorable',
      maxVariable: typeof spec.maxVariable === 'string' ? spec.maxVariable : 'punct',
      normalization: spec.normalization === true,
      backwards: spec.backwards === true,
      version: '57.1',
    };
  }

  /** True when matching differs from binary comparison (strength 1 or 2). */
  get foldsForMatching(): boolean {
    return this.strength <= 2;
  }

  compare(a: string, b: string): number {
    return this.#collator.compare(a, b);
  }

  /** The string as matching at this strength sees it. */
  fold(value: string): string {
    if (this.strength >= 3) return value;
    const lower = this.#caseLevel ? value : value.toLowerCase();
    return this.strength === 1 ? lower.normalize('NFD').replace(/\p{M}/gu, '') : lower;
  }

  /** A deep copy of a value with every string folded (regular expressions left alone). */
  foldDeep<T>(value: T, insideRegex = false): T {
    if (typeof value === 'string') return (insideRegex ? value : this.fold(value)) as T;
    if (Array.isArray(value)) return value.map((v: unknown) => this.foldDeep(v, insideRegex)) as T;
    if (BsonValues.isPlainObject(value)) {
      const out: Document = {};
      for (const [k, v] of Object.entries(value)) out[k] = this.foldDeep(v, k === '$regex' || k === '$options');
      return out as T;
    }
    return value;
  }
}
