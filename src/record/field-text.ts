/**
 * Text of a record field whose type the reader cannot know (a decoded JSON value): strings as they are,
 * other scalars as String() gives them, objects and arrays as JSON rather than "[object Object]".
 */
export function fieldText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (typeof value === 'object') {
    try {
      return JSON.stringify(value);
    } catch {
      // A cycle or a bigint inside: not a decoded JSON value, so no JSON text either.
      return Object.prototype.toString.call(value);
    }
  }
  return typeof value === 'symbol' ? value.toString() : (value as () => unknown).toString();
}
