/**
 * What Open Interpreter 0.4.3 will really run for a held block, and whether that is what was proposed.
 *
 * Before it runs a block, respond.py rewrites it (observed, see docs/open-interpreter-protocol.md, "What `go`
 * runs"): a body that is JSON `{"language": …, "code": …}` becomes that language and code, `functions.execute(…)`
 * is unwrapped, `executeexecute` and a leading "`\n" are dropped. It does this once when the block arrives
 * (and stores the result in its history), then once more over the stored block when `go` comes. So a
 * ```python block whose body is `{"language": "shell", "code": "rm -rf ~"}` is shown and proposed as Python
 * but runs `rm -rf ~` in a shell. The approval must be bound to the code after both passes.
 */

/** Rule id of the finding raised when the code Open Interpreter will run is not the code that was proposed. */
export const CODE_REWRITTEN_RULE = 'OIA-GATE-001';

export interface CodeBlock {
  language: string;
  code: string;
}

/** The outcome of one modelled pass: the block after it, or why it cannot be predicted. */
export type PreparePass = { block: CodeBlock } | { unpredictable: string };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

/** Python's json.loads accepts these where JSON.parse does not: a parse failure here may be a success there. */
const PYTHON_ONLY_JSON = /\b(?:NaN|-?Infinity)\b/;

/**
 * One pass of respond.py's block preparation (0.4.3, "RUN CODE" section), on the language and code as stored.
 * Where its Python JSON parser and ours could disagree (values only Python accepts), the result is reported as
 * unpredictable: the caller refuses rather than guess.
 */
export function prepareAsOpenInterpreter(input: CodeBlock): PreparePass {
  let language = input.language.toLowerCase().trim();
  let code = input.code;
  if (code.startsWith('`\n')) code = code.slice(2).trim();

  if (code.startsWith('functions.execute(')) {
    const edited = code.replaceAll('functions.execute(', '').replace(/\)+$/, '');
    const parsed = parseJson(edited);
    if (parsed && isPlainObject(parsed.value)) {
      const dict = parsed.value;
      if ('language' in dict) language = dict['language'] as string;
      if ('code' in dict) code = dict['code'] as string;
    } else if (!parsed && PYTHON_ONLY_JSON.test(edited)) {
      return { unpredictable: 'functions.execute(…) body that only Python can parse' };
    }
    if (typeof language !== 'string' || typeof code !== 'string') return { unpredictable: 'functions.execute(…) with a non-string language or code' };
  }

  if (code.trim().endsWith('executeexecute')) code = code.replaceAll('executeexecute', '');

  const squeezed = (): string => code.replaceAll('\n', '').replaceAll(' ', '');
  if (squeezed().startsWith('{"language":')) {
    const rewritten = fromLanguageCodeJson(code);
    if ('unpredictable' in rewritten) return rewritten;
    if (rewritten.block) ({ language, code } = rewritten.block);
  }
  if (squeezed().startsWith('{language:')) {
    // respond.py replaces these before parsing, and keeps the replacement even when parsing then fails.
    code = code.replaceAll('language: ', '"language": ').replaceAll('code: ', '"code": ');
    const rewritten = fromLanguageCodeJson(code);
    if ('unpredictable' in rewritten) return rewritten;
    if (rewritten.block) ({ language, code } = rewritten.block);
  }
  return { block: { language, code } };
}

function fromLanguageCodeJson(code: string): { block?: CodeBlock } | { unpredictable: string } {
  const parsed = parseJson(code);
  if (!parsed) return PYTHON_ONLY_JSON.test(code) ? { unpredictable: '{"language": …} body that only Python can parse' } : {};
  const dict = parsed.value;
  if (!isPlainObject(dict)) return {};
  const keys = Object.keys(dict);
  if (keys.length !== 2 || !keys.includes('language') || !keys.includes('code')) return {};
  const language = dict['language'];
  const newCode = dict['code'];
  // A non-string makes the next string method in respond.py raise: nothing runs, but say so rather than guess.
  if (typeof language !== 'string' || typeof newCode !== 'string') return { unpredictable: '{"language": …, "code": …} with non-string values' };
  return { block: { language, code: newCode } };
}

export interface BindingResult {
  /** What Open Interpreter will run when sent `go` (the proposal itself when nothing differs). */
  confirmed: CodeBlock;
  /** Why the confirmed block is not the proposal; undefined when they are the same. */
  rewritten?: string;
}

/**
 * Binds a proposal to what `go` will run. `stored` is Open Interpreter's own copy of the pending block (its
 * history's last message, after the first pass); without it, both passes are modelled over the proposal.
 */
export function bindToConfirmation(proposal: CodeBlock, stored: CodeBlock | undefined): BindingResult {
  const first: PreparePass = stored ? { block: stored } : prepareAsOpenInterpreter(proposal);
  const second = 'block' in first ? prepareAsOpenInterpreter(first.block) : first;
  if ('unpredictable' in second) {
    return { confirmed: stored ?? proposal, rewritten: `cannot tell what Open Interpreter will run: ${second.unpredictable}` };
  }
  const confirmed = second.block;
  const sameLanguage = confirmed.language.toLowerCase().trim() === proposal.language.toLowerCase().trim();
  if (sameLanguage && confirmed.code === proposal.code) return { confirmed: proposal };
  const what = sameLanguage ? 'its code' : `its language (${JSON.stringify(proposal.language)} → ${JSON.stringify(confirmed.language)})${confirmed.code === proposal.code ? '' : ' and its code'}`;
  return { confirmed, rewritten: `Open Interpreter would run a block that differs from the proposal in ${what}` };
}
