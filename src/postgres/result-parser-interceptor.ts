import { SchemaValidationError, type Interceptor, type QueryResultRow } from 'slonik';

/**
 * Enforces `sql.type(schema)`: every row is validated (and transformed) by the
 * query's Standard Schema. Without this interceptor Slonik ignores the schema.
 */
export function createResultParserInterceptor(): Interceptor {
  return {
    name: 'platform-data/result-parser',
    transformRow: (context, query, row) => {
      const parser = context.resultParser;
      if (!parser) return row;
      const result = parser['~standard'].validate(row);
      if (result instanceof Promise) {
        throw new TypeError('Asynchronous result schemas are not supported');
      }
      if (result.issues) throw new SchemaValidationError(query, row, result.issues);
      return result.value as QueryResultRow;
    },
  };
}
