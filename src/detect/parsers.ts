/**
 * The real parsers behind detection: tree-sitter's bash and Python grammars, run through the
 * WebAssembly build of tree-sitter (web-tree-sitter), so no native addon has to build on the host.
 *
 * Why these: tree-sitter-bash and tree-sitter-python are the grammars the tree-sitter project itself
 * maintains; their npm packages ship the `.wasm` next to the grammar, built by the same 0.25 CLI as the
 * web-tree-sitter 0.25 runtime pinned here, and load offline in Node 20. Both are error-tolerant: a block
 * with a syntax error still yields a tree whose good parts can be judged.
 *
 * Loading is asynchronous (WebAssembly), detection is not: the grammars load once, at import, through a
 * top-level await, so every caller of `detectCode` sees them ready. When loading fails the failure is
 * kept, not thrown: the engine then falls back to its token rules and holds every block for a human
 * (fail closed) instead of approving what it could not parse.
 */
import { createRequire } from 'node:module';
import type { Language, Node, Parser as ParserType, Tree } from 'web-tree-sitter';

export type Grammar = 'bash' | 'python';
export type SyntaxNode = Node;

interface Loaded {
  parsers: Record<Grammar, ParserType>;
}

const require = createRequire(import.meta.url);

/** Above this many bytes a block is not parsed (bounded work); the engine holds it instead. */
export const MAX_PARSE_BYTES = 256 * 1024;

let loaded: Loaded | undefined;
let loadError: string | undefined;

async function load(): Promise<Loaded> {
  // Overridable so a test can prove the fail-closed path with a grammar that does not exist.
  const override = process.env.OI_AUDIT_DETECT_GRAMMAR_DIR;
  const wasm = (pkg: string) => (override ? `${override}/${pkg}.wasm` : require.resolve(`${pkg}/${pkg}.wasm`));
  const { Parser, Language: Lang } = await import('web-tree-sitter');
  await Parser.init();
  const languages: Record<Grammar, Language> = {
    bash: await Lang.load(wasm('tree-sitter-bash')),
    python: await Lang.load(wasm('tree-sitter-python')),
  };
  const make = (l: Language) => new Parser().setLanguage(l);
  return { parsers: { bash: make(languages.bash), python: make(languages.python) } };
}

try {
  loaded = await load();
} catch (err) {
  loadError = (err as Error)?.message ?? String(err);
}

/** Why the grammars are not available, or undefined when they are. */
export function parserError(): string | undefined {
  return loaded ? undefined : (loadError ?? 'grammars not loaded');
}

/**
 * Parse `code` and hand the root node to `visit`; the tree is freed afterwards (it lives in WebAssembly
 * memory, outside the garbage collector). Returns undefined when the grammar is unavailable or the input
 * is over the cap: the caller must then treat the block as not analysed.
 */
export function withTree<T>(grammar: Grammar, code: string, visit: (root: Node) => T): T | undefined {
  if (!loaded || Buffer.byteLength(code, 'utf8') > MAX_PARSE_BYTES) return undefined;
  let tree: Tree | null = null;
  try {
    tree = loaded.parsers[grammar].parse(code);
    return tree ? visit(tree.rootNode) : undefined;
  } finally {
    tree?.delete();
  }
}
