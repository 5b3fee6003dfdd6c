import type { RiskAssessment } from '../../audit/execution.js';
import { detectCode, detectInput, detectOutput, TaintContext, type DetectionResult } from '../../detect/engine.js';

/** Detection for one session: the taint rule needs what this session's output and input showed earlier. */
export interface SessionDetector {
  input(text: string): RiskAssessment;
  code(language: string, code: string): RiskAssessment;
  output(text: string): RiskAssessment;
}

const assessment = (r: DetectionResult): RiskAssessment => ({ level: r.level, rules: r.rules });

/** The engine observes input/output into the taint context and consumes it per code block. */
export function createSessionDetector(): SessionDetector {
  const taint = new TaintContext();
  return {
    input: (text) => assessment(detectInput(text, taint)),
    code: (language, code) => assessment(detectCode(language, code, taint)),
    output: (text) => assessment(detectOutput(text, taint)),
  };
}
