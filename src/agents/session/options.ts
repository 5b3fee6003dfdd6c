/**
 * What every audited agent session is started with, whichever Open Interpreter runs it (classic 0.4.3 or the
 * Rust one). Each adapter extends this with what only it has; `--agent` selection passes one object to either.
 */
import type { AuditRecorder } from '../../audit/recorder.js';
import type { LlmProxy } from '../../llm-proxy/proxy.js';
import type { ApprovalHook } from '../../approval/hook.js';
import type { LmcChunk } from './lmc-chunk.js';

export interface AgentSessionOptions {
  recorder: AuditRecorder;
  proxy: LlmProxy;
  userId: string;
  clientAddress?: string;
  roles?: string[];
  /** Model name the agent asks the proxy for. */
  model: string;
  approve: ApprovalHook;
  /** Name of the approval policy, recorded on the session. */
  policyName: string;
  /** When it returns false, nothing is approved (fail-closed while the audit sink is unhealthy). */
  auditHealthy?: () => boolean;
  onProgress?: (line: string) => void;
  /**
   * What the agent says as it works, as LMC chunks (Open Interpreter's message format; the Rust adapter maps
   * its items onto the same roles and types), e.g. for a gateway client.
   */
  onChunk?: (chunk: LmcChunk) => void;
  /** Working directory of the agent (its code runs there). */
  workDir?: string;
  startTimeoutMs?: number;
  /**
   * Aborted when whoever asked for the session is gone (a gateway client disconnected during startup): the
   * start stops at the next step, stops what it started, and ends the session `aborted`.
   */
  signal?: AbortSignal;
}
