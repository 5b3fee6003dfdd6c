/**
 * Effect analysis of one code block: the right parser per language, the block-level judgement
 * (a secret read and the network used in one block), and the fail-closed cases (grammar not loaded,
 * input over the parse cap, a walk cut short) that hold a block instead of approving it unread.
 */
import { type BlockState, judgeBlock, newState } from './commands.js';
import { type Analysis, Collector } from './effects.js';
import { MAX_PARSE_BYTES, parserError, withTree } from './parsers.js';
import { analyzePythonTree } from './python-ast.js';
import { analyzeScript, scriptFlavor } from './script-generic.js';
import { analyzeShellTree } from './shell-ast.js';

export type AnalysisLanguage = 'shell' | 'python' | 'perl' | 'node' | 'ruby' | 'php' | 'other';

/** Map an Open Interpreter language name to the analyser that reads it. */
export function analysisLanguage(language: string): AnalysisLanguage {
  const l = language.trim().toLowerCase();
  if (['shell', 'bash', 'sh', 'zsh', 'dash', 'ksh', 'terminal', 'console'].includes(l)) return 'shell';
  if (['python', 'py', 'python3', 'ipython', 'jupyter'].includes(l)) return 'python';
  return scriptFlavor(l) ?? 'other';
}

/** Analyse one block; `state` carries staged files across a block and its nested code. */
export function analyzeCode(language: AnalysisLanguage, code: string, state: BlockState = newState()): Analysis {
  const out = new Collector();
  if (language === 'shell' || language === 'python') {
    const grammar = language === 'shell' ? 'bash' : 'python';
    const done = withTree(grammar, code, (root) =>
      language === 'shell' ? analyzeShellTree(root, state, out).truncated : analyzePythonTree(root, state, out).truncated,
    );
    if (done === undefined) {
      const why = parserError();
      if (why) out.add('analysis.unavailable', `${grammar} grammar unavailable: ${why}`);
      else out.add('analysis.too-large', `block of ${Buffer.byteLength(code, 'utf8')} bytes is over the ${MAX_PARSE_BYTES}-byte parse cap`);
    } else if (done) out.add('analysis.too-large', 'block nested or repeated past the analysis bounds');
  } else if (language !== 'other') {
    analyzeScript(language, code, state, out);
  }
  judgeBlock(state, out);
  return out;
}
