import { Ajv, type ErrorObject, type SchemaObject } from 'ajv';
import { Binary, BSONRegExp, Code, Decimal128, Long, MaxKey, MinKey, ObjectId, Timestamp, type Document } from 'bson';
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

  /** An approximation of mongod's `errInfo.details.schemaRulesNotSatisfied`. */
  static describeLastErrors(): Document[] {
    return BsonJsonSchema.lastErrors.map((e) => ({
      operatorName: e.keyword,
      ...(e.instancePath ? { propertyName: e.instancePath.slice(1).replaceAll('/', '.') } : {}),
      specifiedAs: { [e.keyword]: e.schema as unknown },
      reason: e.message ?? 'schema rule not satisfied',
    }));
  }
}

function createAjv(): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: false, validateSchema: false, addUsedSchema: false });
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

function matchesBsonType(type: string, value: unknown): boolean {
  switch (type) {
    case 'double':
      return typeof value === 'number';
    case 'int':
      return typeof value === 'number' && Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31;
    case 'long':
      return value instanceof Long || typeof value === 'bigint';
    case 'decimal':
      return value instanceof Decimal128;
    case 'number':
      return typeof value === 'number' || value instanceof Long || value instanceof Decimal128 || typeof value === 'bigint';
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
