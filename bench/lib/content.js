/**
 * Deterministic benchmark content: what an audit event carries most of the time — Python code, console
 * output and assistant prose — as ASCII text of an exact byte size. It contains words that trip the
 * redactor's keyword prefilters (`key`, `token`, `secret`, `://`, `pass`, `@`) so those rules actually
 * run, but no secret, so nothing is redacted and every variant carries the same text.
 */

const LINES = [
  'import pandas as pd',
  'df = pd.read_csv("sales_2024.csv")',
  'print(df.groupby("region")["revenue"].sum().sort_values(ascending=False))',
  'for i, row in enumerate(rows):',
  '    total += row.amount * row.quantity',
  'def load_config(path):',
  '    with open(path) as fh:',
  '        return json.load(fh)',
  'api_key = os.environ["OPENAI_API_KEY"]',
  'token = get_token(session)  # refreshed by the client',
  'The secret to a fast query is an index on the key column.',
  'See https://docs.python.org/3/library/json.html for the format.',
  'Traceback (most recent call last):',
  '  File "<stdin>", line 3, in <module>',
  'KeyError: \'region\'',
  'region     revenue',
  'north      1204332.50',
  'south       998120.25',
  'east        871002.00',
  'west        650441.75',
  'total 48',
  'drwxr-xr-x  5 user user 4096 Mar  3 10:21 data',
  '-rw-r--r--  1 user user  812 Mar  3 10:20 report.md',
  'I will read the file, group by region and print the totals.',
  'The command failed because the directory does not exist; I will create it first.',
  'Ask ops@example.invalid if the pass-through proxy needs a different port.',
  'Done: 4 regions, 12,345 rows, 0 missing values.',
  'ls -la /tmp/analysis && wc -l data/*.csv',
];

/** mulberry32: small deterministic PRNG. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One text of exactly `bytes` ASCII bytes. */
export function makeContent(bytes, seed = 1) {
  const rnd = prng(seed);
  let out = '';
  while (out.length < bytes) out += `${LINES[Math.floor(rnd() * LINES.length)]}\n`;
  return out.slice(0, bytes);
}

/** `count` distinct texts of `bytes` bytes each (distinct so nothing can be cached by identity). */
export function makeContents(bytes, count = 64, seed = 1) {
  return Array.from({ length: count }, (_, i) => makeContent(bytes, seed * 7919 + i));
}
