/** The state the TurnRecorder keeps per open turn and per item (command, file change) of it. */
import type { Hash } from 'node:crypto';
import type { AuditExecution } from '../../audit/execution.js';
import type { AuditTurn, TurnOutcome } from '../../audit/turn.js';
import type { TurnResult } from '../session/turn-result.js';
import type { FileOp } from './patch.js';

/** One item of the turn that runs something, as the recorder tracks it from proposal to completion. */
export interface ItemRecord {
  itemId: string;
  exec: AuditExecution;
  /** What the hook approved (model command and the hook's cwd). */
  hooked?: { command: string; cwd: string };
  started: boolean;
  sawDelta: boolean;
  riskHead: string;
  /** Held changes of a file-change item (recorded when its approval is asked). */
  changes?: string;
  /** The file operations the hook approved (a shell call of apply_patch), resolved against its cwd. */
  approvedOps?: FileOp[];
  /** The file operations of the item as Codex reported them (item/started). */
  itemOps?: FileOp[];
  unapprovedReported: boolean;
}

/** One open turn's state. */
export class OpenTurn {
  readonly items = new Map<string, ItemRecord>();
  readonly result: TurnResult = { outcome: 'complete', executed: 0, refused: 0, errors: [], refusals: [] };
  codexTurnId: string | undefined;
  pendingDecisions = 0;
  seenProtocol = new Set<string>();
  protocolErrors = 0;
  suppressed = 0;
  orphan: { bytes: number; hash: Hash; head: string; items: Set<string> } | undefined;
  interruptRequested = false;
  done!: (outcome: TurnOutcome) => void;
  readonly finished: Promise<TurnOutcome>;

  constructor(readonly turn: AuditTurn) {
    this.finished = new Promise((resolve) => (this.done = resolve));
  }
}
