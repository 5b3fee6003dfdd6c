/**
 * Taint across blocks: URLs and command lines seen in command output, reused by the next code block
 * (indirect prompt injection). URLs the user typed are trusted.
 */
import { analyzeShell } from './shell.js';
import { MAX_SCAN_CHARS } from './rule-table.js';

/** The canonical views of one code block. */
export interface CodeViews {
  shell: string;
  python: string;
  any: string;
}

export function cap(text: string): string {
  return text.length > MAX_SCAN_CHARS ? text.slice(0, MAX_SCAN_CHARS) : text;
}

const URL_RE = /\bhttps?:\/\/[^\s"'<>()[\]{}|\\^`]{3,2000}/gi;
const COMMAND_LINE_RE = /^(?:\s{0,8}(?:\$|#|>|%|PS>|[\w.-]{1,32}@[\w.-]{1,64}:[^$#\n]{0,200}[$#])\s{0,4})?((?:sudo\s{1,4})?(?:curl|wget|bash|sh|zsh|python[0-9.]{0,4}|pip[0-9.]{0,4}|npm|npx|node|chmod|chown|nc|ncat|socat|rm|ssh|scp|rsync|base64|eval|perl|ruby|php|powershell|pwsh|iex|git|docker|kubectl|apt(?:-get)?|brew|systemctl|crontab|echo|export)\s[^\n]{3,500})$/gm;

function trimUrl(url: string): string {
  return url.replace(/[.,;:!?'")\]}>]{1,10}$/, '');
}

function canonicalCommand(line: string): string {
  return analyzeShell(line.trim(), 4096).text.trim();
}

export interface TaintOptions {
  /** How many following code blocks an indicator from output stays live. Default 1: the next block. */
  window?: number;
  /** Cap on indicators kept. Default 256 (oldest dropped first). */
  maxIndicators?: number;
}

export interface TaintHit {
  kind: 'url' | 'command';
  indicator: string;
}

/**
 * Taint context for one session: URLs and command lines seen in command output, consumed by the next
 * code block(s). URLs the user typed themselves are trusted and never count as taint.
 */
export class TaintContext {
  private block = 0;
  private readonly window: number;
  private readonly maxIndicators: number;
  private readonly urls = new Map<string, number>();
  private readonly commands = new Map<string, number>();
  private readonly trusted = new Set<string>();

  constructor(options: TaintOptions = {}) {
    this.window = Math.max(1, options.window ?? 1);
    this.maxIndicators = Math.max(1, options.maxIndicators ?? 256);
  }

  /** Record indicators from command output (call for every output chunk, or use detectOutput(text, ctx)). */
  observeOutput(text: string): void {
    const src = cap(text);
    for (const m of src.matchAll(URL_RE)) {
      const url = trimUrl(m[0]);
      if (url.length >= 12 && !this.trusted.has(url.toLowerCase())) this.remember(this.urls, url);
    }
    COMMAND_LINE_RE.lastIndex = 0;
    for (const m of src.matchAll(COMMAND_LINE_RE)) {
      const cmd = canonicalCommand(m[1]!);
      if (cmd.length >= 8 && cmd.includes(' ')) this.remember(this.commands, cmd);
    }
  }

  /** Record what the user asked for: URLs in user input are trusted. */
  observeInput(text: string): void {
    for (const m of cap(text).matchAll(URL_RE)) {
      const url = trimUrl(m[0]).toLowerCase();
      if (this.trusted.size < this.maxIndicators) this.trusted.add(url);
      for (const k of [...this.urls.keys()]) if (k.toLowerCase() === url) this.urls.delete(k);
    }
  }

  /** Indicators still live for the coming code block. */
  live(): { urls: string[]; commands: string[] } {
    const alive = (seenAt: number) => seenAt >= this.block - this.window + 1;
    return {
      urls: [...this.urls].filter(([, at]) => alive(at)).map(([u]) => u),
      commands: [...this.commands].filter(([, at]) => alive(at)).map(([c]) => c),
    };
  }

  /** Check a code block against the live indicators, then move to the next block. */
  consume(views: CodeViews): TaintHit[] {
    const hits: TaintHit[] = [];
    const { urls, commands } = this.live();
    const raw = views.any;
    const all = `${views.any}\n${views.shell}\n${views.python}`;
    for (const u of urls) {
      if (this.trusted.has(u.toLowerCase())) continue;
      if (raw.includes(u) || all.includes(u)) hits.push({ kind: 'url', indicator: u });
    }
    for (const c of commands) if (views.shell.includes(c)) hits.push({ kind: 'command', indicator: c });
    this.advance();
    return hits;
  }

  /** Move to the next block without checking (a block that was not analysed). */
  advance(): void {
    this.block++;
    for (const map of [this.urls, this.commands]) {
      for (const [k, at] of map) if (at < this.block - this.window) map.delete(k);
    }
  }

  private remember(map: Map<string, number>, key: string): void {
    map.delete(key);
    map.set(key, this.block);
    while (map.size > this.maxIndicators) map.delete(map.keys().next().value as string);
  }
}

