import { analyse } from 'scslre';

/**
 * Super-linear backtracking a regex admits, found by static analysis of its automaton (scslre): a
 * property of the pattern, not of how fast this machine is, so it cannot flake under load. Each report
 * names the quantifiers that trade characters and an attack string.
 */
export function superlinearReports(re: RegExp): string[] {
  return analyse(re).reports.map((r) => `${r.type}${r.exponential ? ' (exponential)' : ''} repeating ${JSON.stringify(r.character.pick)}`);
}
