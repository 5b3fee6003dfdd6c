/**
 * Text of a record field whose type the reader cannot know (a decoded JSON value): strings as they are,
 * other scalars as String() gives them, objects and arrays as JSON rather than "[object Object]".
 */
export function fieldText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (typeof value === 'object') return JSON.stringify(value) ?? '';
  return String(value);
}
