import { Ajv, type ErrorObject, type SchemaObject } from 'ajv';
import { Binary, BSONRegExp, Code, Decimal128, Double, Long, MaxKey, MinKey, ObjectId, Timestamp, type Document } from 'bson';
import { BsonValues } from './bson-values.js';

/**
 * mongod's `$jsonSchema` dialect on top of Ajv: JSON-schema keywords as usual,
 * plus `bsonType`, checked against the decoded BSON value's real type (so
 * `objectId`, `date`, `long`... work, which plain JSON-schema types cannot
 * express). `$ref`, `$schema`, `default`, `format` are not part of mongod's
 * dialect and are ignored rather than rejected.
 */
export class BsonJsonSchema {
  static readonly #ajv = createAjv();
  /** Errors of the last failed validation; read right after a failing call (single-threaded). */
  static lastErrors: readonly ErrorObject[] = [];

  static compile(schema: Document): (doc: unknown) => boolean {
    const validate = BsonJsonSchema.#ajv.compile(schema as SchemaObject);
    return (doc: unknown) => {
      const ok = validate(doc);
      BsonJsonSchema.lastErrors = ok ? [] : [...(validate.errors ?? [])];
      return ok;
    };
  }

  /**
   * mongod's `errInfo.details.schemaRulesNotSatisfied` for the last failure
   * (MongoDB manual, "Schema Validation" → "View the details of a failed
   * validation"): every failing rule, `required` with `missingProperties`,
   * property rules grouped under `properties.propertiesNotSatisfied`.
   */
  static describeLastErrors(): Document[] {
    const out: Document[] = [];
    const byProperty = new Map<string, Document[]>();
    for (const e of BsonJsonSchema.lastErrors) {
      if (e.keyword === 'required' && e.instancePath === '') {
        const existing = out.find((r) => r.operatorName === 'required');
        const missing = (e.params as { missingProperty: string }).missingProperty;
        if (existing) (existing.missingProperties as string[]).push(missing);
        else out.push({ operatorName: 'required', specifiedAs: { required: e.schema as unknown }, missingProperties: [missing] });
        continue;
      }
      const [property, ...rest] = e.instancePath.slice(1).split('/');
      const detail: Document = {
        operatorName: e.keyword,
        specifiedAs: { [e.keyword]: e.schema as unknown },
        reason: REASONS[e.keyword] ?? 'schema rule not satisfied',
        ...(e.data !== undefined ? { consideredValue: e.data as unknown } : {}),
        ...(e.keyword === 'bsonType' || e.keyword === 'type' ? { consideredType: typeName(e.data) } : {}),
      };
      if (!property) {
        out.push(detail);
        continue;
      }
      const key = rest.length > 0 ? `${property}.${rest.join('.')}` : property;
      byProperty.set(key, [...(byProperty.get(key) ?? []), detail]);
    }
    if (byProperty.size > 0) {
      out.push({
        operatorName: 'properties',
        propertiesNotSatisfied: [...byProperty].map(([propertyName, details]) => ({ propertyName, details })),
      });
    }
    return out;
  }
}

/** mongod's `reason` texts per keyword. */
const REASONS: Readonly<Record<string, string>> = {
  bsonType: 'type did not match',
  type: 'type did not match',
  minimum: 'comparison failed',
  maximum: 'comparison failed',
  exclusiveMinimum: 'comparison failed',
  exclusiveMaximum: 'comparison failed',
  enum: 'value was not found in enum',
  minLength: 'specified string length was not satisfied',
  maxLength: 'specified string length was not satisfied',
  pattern: 'regular expression did not match',
  minItems: 'array did not match specified length',
  maxItems: 'array did not match specified length',
  additionalProperties: 'additional properties are not allowed',
};

function typeName(value: unknown): string {
  const known = ['double', 'int', 'long', 'decimal', 'string', 'object', 'array', 'binData', 'objectId', 'bool', 'date', 'null', 'regex', 'timestamp'];
  return known.find((t) => matchesBsonType(t, value)) ?? 'unknown';
}

function createAjv(): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true, verbose: true, validateSchema: false, addUsedSchema: false });
  ajv.addKeyword({
    keyword: 'bsonType',
    schemaType: ['string', 'array'],
    errors: false,
    validate: (schema: string | string[], data: unknown) => {
      const wanted = Array.isArray(schema) ? schema : [schema];
      return wanted.some((type) => matchesBsonType(type, data));
    },
  });
  return ajv;
}

/** Whether a stored (BSON-faithful) value has the named BSON type; a JS number is an int32 when integral and in range. */
export function matchesBsonType(type: string, value: unknown): boolean {
  switch (type) {
    case 'double':
      return value instanceof Double || (typeof value === 'number' && !isInt32(value));
    case 'int':
      return typeof value === 'number' && isInt32(value);
    case 'long':
      return value instanceof Long || typeof value === 'bigint';
    case 'decimal':
      return value instanceof Decimal128;
    case 'number':
      return typeof value === 'number' || value instanceof Double || value instanceof Long || value instanceof Decimal128 || typeof value === 'bigint';
    case 'string':
      return typeof value === 'string';
    case 'object':
      return BsonValues.isPlainObject(value);
    case 'array':
      return Array.isArray(value);
    case 'binData':
      return value instanceof Binary;
    case 'objectId':
      return value instanceof ObjectId;
    case 'bool':
      return typeof value === 'boolean';
    case 'date':
      return value instanceof Date;
    case 'null':
      return value === null;
    case 'regex':
      return value instanceof RegExp || value instanceof BSONRegExp;
    case 'javascript':
      return value instanceof Code;
    case 'timestamp':
      return value instanceof Timestamp;
    case 'minKey':
      return value instanceof MinKey;
    case 'maxKey':
      return value instanceof MaxKey;
    case 'undefined':
      return value === undefined;
    default:
      return false;
  }
}

function isInt32(value: number): boolean {
  return Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31 && !Object.is(value, -0);
}
