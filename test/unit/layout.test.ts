import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { AGENT_KINDS } from '../../src/agents/select.js';

/**
 * The layout properties a reviewer checks (docs/architecture.md), on the import graph of src/**\/*.ts as
 * TypeScript's own scanner reads it (static `import`/`export … from`, `import type`, dynamic `import()`):
 * no import circle between files, no agent folder importing another agent's, otel/ independent of audit/,
 * demo/ and cli/ reached only from cli/, and no file over 600 lines without a stated reason.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const SRC = join(ROOT, 'src');
const MAX_LINES = 600;

/**
 * Files allowed over MAX_LINES, each with why. An entry that no longer exceeds fails the test, so the list
 * only shrinks.
 */
const LONG_FILES: Record<string, string> = {};

/**
 * Folders under src/agents/ that are not an agent: what more than one agent uses. Every other folder there
 * must be an agent named in AGENT_KINDS, so a new agent's folder is checked without editing this test.
 */
const SHARED_AGENT_FOLDERS: Record<string, string> = {
  session: 'what every agent session takes and gives: options, turn result, LMC chunks, detector, settings refusal, start',
  sandbox: 'the bubblewrap sandbox, the network bridge into it, the sensitive paths it hides',
  process: "an agent's process tree and the environment it inherits",
};

interface ImportEdge {
  from: string;
  to: string;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Paths relative to src/, with `/` separators. */
const rel = (abs: string): string => relative(SRC, abs).split(sep).join('/');

/** Every relative import of every file, resolved to the src file it names (`x.js` is the built twin of `x.ts`). */
function importGraph(files: { path: string; text: string }[]): { edges: ImportEdge[]; unresolved: string[] } {
  const known = new Set(files.map((f) => rel(f.path)));
  const edges: ImportEdge[] = [];
  const unresolved: string[] = [];
  for (const file of files) {
    const info = ts.preProcessFile(file.text, true, true);
    for (const { fileName } of info.importedFiles) {
      if (!fileName.startsWith('.')) continue; // a package (node:, npm)
      const abs = resolve(dirname(file.path), fileName);
      const target = rel(abs).replace(/\.js$/, '.ts');
      if (known.has(target)) edges.push({ from: rel(file.path), to: target });
      else if (!fileName.endsWith('.js') && existsSync(abs)) continue; // data (rules.json): not a module of the graph
      else unresolved.push(`${rel(file.path)} -> ${fileName}`);
    }
  }
  return { edges, unresolved };
}

/** Strongly connected components with more than one file (Tarjan), plus files importing themselves. */
function circles(nodes: string[], edges: ImportEdge[]): string[][] {
  const next = new Map<string, string[]>(nodes.map((n) => [n, []]));
  for (const e of edges) next.get(e.from)!.push(e.to);
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || next.get(v)!.includes(v)) found.push(component.sort());
    }
  };
  for (const n of nodes) if (!index.has(n)) visit(n);
  return found;
}

/** `agents/<folder>` for a file in a folder below src/agents/, else undefined (agents/select.ts is the chooser above them). */
function agentFolder(path: string): string | undefined {
  const parts = path.split('/');
  return parts[0] === 'agents' && parts.length > 2 ? parts[1] : undefined;
}

const topFolder = (path: string): string => path.split('/')[0]!;

/** The edges that break the layout rules, as `from -> to (rule)`; an empty list when the layout holds. */
function layoutViolations(edges: ImportEdge[], agentKinds: readonly string[]): string[] {
  const bad: string[] = [];
  for (const { from, to } of edges) {
    const a = agentFolder(from);
    const b = agentFolder(to);
    if (a !== undefined && b !== undefined && a !== b) {
      if (agentKinds.includes(a) && agentKinds.includes(b)) bad.push(`${from} -> ${to} (an agent imports another agent's folder: move what both need into src/agents/)`);
      else if (!agentKinds.includes(a) && agentKinds.includes(b)) bad.push(`${from} -> ${to} (a shared agents folder imports an agent)`);
    }
    if (a === undefined && b !== undefined && agentKinds.includes(b) && topFolder(from) === 'agents' && from !== 'agents/select.ts') {
      bad.push(`${from} -> ${to} (only agents/select.ts, the chooser, imports an agent from src/agents/)`);
    }
    if (topFolder(from) === 'otel' && topFolder(to) === 'audit') bad.push(`${from} -> ${to} (otel/ imports nothing from audit/)`);
    for (const guarded of ['demo', 'cli']) {
      if (topFolder(to) === guarded && topFolder(from) !== guarded && topFolder(from) !== 'cli') bad.push(`${from} -> ${to} (only cli/ imports ${guarded}/)`);
    }
  }
  return bad;
}

const files = sourceFiles(SRC).map((path) => ({ path, text: readFileSync(path, 'utf8') }));
const { edges, unresolved } = importGraph(files);

describe('source layout', () => {
  it('reads the whole tree: every relative import names a file under src/', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(edges.length).toBeGreaterThan(files.length); // the scanner found imports, not nothing
    expect(unresolved).toEqual([]);
  });

  it('has no import circle between files (type-only imports included)', () => {
    expect(circles(files.map((f) => rel(f.path)), edges)).toEqual([]);
  });

  it('keeps agents apart, otel/ free of audit/, demo/ and cli/ reached only from cli/', () => {
    expect(layoutViolations(edges, AGENT_KINDS)).toEqual([]);
  });

  it('names every folder under src/agents/: an agent (AGENT_KINDS) or a shared folder with a reason', () => {
    const folders = readdirSync(join(SRC, 'agents')).filter((n) => statSync(join(SRC, 'agents', n)).isDirectory());
    const unnamed = folders.filter((f) => !(AGENT_KINDS as readonly string[]).includes(f) && !(f in SHARED_AGENT_FOLDERS));
    expect(unnamed).toEqual([]);
    for (const kind of AGENT_KINDS) expect(folders).toContain(kind);
    for (const shared of Object.keys(SHARED_AGENT_FOLDERS)) expect(folders).toContain(shared);
  });

  it(`has no file over ${MAX_LINES} lines but those allowed with a reason, and each allowed one still needs it`, () => {
    const lines = new Map(files.map((f) => [rel(f.path), f.text.split('\n').length - 1]));
    const over = [...lines].filter(([path, n]) => n > MAX_LINES && !(path in LONG_FILES)).map(([path, n]) => `${path}: ${n} lines`);
    expect(over).toEqual([]);
    const stale = Object.keys(LONG_FILES).filter((path) => (lines.get(path) ?? 0) <= MAX_LINES);
    expect(stale, 'allowed long files that are gone or short now: remove them from LONG_FILES').toEqual([]);
  });

  // The rules themselves, on made-up edges: a check that cannot fail proves nothing.
  it('reports each kind of bad edge, and passes the allowed ones', () => {
    const kinds = ['classic', 'rust'];
    const edge = (from: string, to: string): ImportEdge => ({ from, to });
    expect(layoutViolations([edge('agents/rust/a.ts', 'agents/classic/process/b.ts')], kinds)).toHaveLength(1);
    expect(layoutViolations([edge('agents/classic/a.ts', 'agents/rust/b.ts')], kinds)).toHaveLength(1);
    expect(layoutViolations([edge('agents/sandbox/a.ts', 'agents/classic/b.ts')], kinds)).toHaveLength(1);
    expect(layoutViolations([edge('agents/shared.ts', 'agents/rust/b.ts')], kinds)).toHaveLength(1);
    expect(layoutViolations([edge('otel/a.ts', 'audit/session.ts')], kinds)).toHaveLength(1);
    expect(layoutViolations([edge('index.ts', 'demo/scripted-model.ts')], kinds)).toHaveLength(1);
    expect(layoutViolations([edge('gateway/a.ts', 'demo/b.ts')], kinds)).toHaveLength(1);
    expect(layoutViolations([edge('read/a.ts', 'cli/style.ts')], kinds)).toHaveLength(1);
    expect(
      layoutViolations(
        [
          edge('agents/rust/a.ts', 'agents/sandbox/bwrap.ts'),
          edge('agents/classic/a.ts', 'agents/session/options.ts'),
          edge('agents/select.ts', 'agents/rust/b.ts'),
          edge('cli/commands/demo.ts', 'demo/script.ts'),
          edge('demo/a.ts', 'demo/b.ts'),
          edge('audit/a.ts', 'otel/b.ts'),
        ],
        kinds,
      ),
    ).toEqual([]);
    expect(circles(['a', 'b', 'c'], [edge('a', 'b'), edge('b', 'c'), edge('c', 'a')])).toEqual([['a', 'b', 'c']]);
    expect(circles(['a', 'b'], [edge('a', 'b')])).toEqual([]);
  });
});
