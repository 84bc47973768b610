// The smoke test's printout: one line per check, a count, and the first failure in plain words.

import type { CheckResult, Outcome } from './checks';

const LABEL: Record<Outcome, string> = { pass: 'pass', fail: 'FAIL', 'n/a': 'n/a' };
const DETAIL_WIDTH = 72;

function clip(text: string, width: number): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
}

/** The table, the counts and, when something failed, the first failure explained. */
export function formatReport(results: CheckResult[], heading: string): string {
  const nameWidth = Math.max(...results.map((r) => r.name.length), 'check'.length);
  const lines = [heading, '', `${'check'.padEnd(nameWidth)}  result  detail`];
  for (const result of results) {
    lines.push(`${result.name.padEnd(nameWidth)}  ${LABEL[result.outcome].padEnd(6)}  ${clip(result.detail, DETAIL_WIDTH)}`);
  }
  const count = (outcome: Outcome) => results.filter((r) => r.outcome === outcome).length;
  lines.push('', `${count('pass')} passed, ${count('fail')} failed, ${count('n/a')} not applicable`);
  const first = results.find((r) => r.outcome === 'fail');
  if (first) {
    lines.push(
      '',
      `First failure: ${first.name}`,
      `  expected:     ${first.expected ?? ''}`,
      `  received:     ${first.received ?? first.detail}`,
      `  likely cause: ${first.cause ?? ''}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Non-zero when any check failed. */
export function exitCode(results: CheckResult[]): number {
  return results.some((r) => r.outcome === 'fail') ? 1 : 0;
}
