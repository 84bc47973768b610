// `afterimage smoke <distribution-url> --path <key> [options]`: checks a deployment from the
// outside (smoke/checks.ts) and prints one line per check. Exit code 1 when a check failed.
// `npm run smoke -- …` runs the same command.

import { runSmokeChecks } from '../../smoke/checks';
import { USAGE, UsageError as SmokeUsageError, parseSmokeOptions } from '../../smoke/options';
import { exitCode, formatReport } from '../../smoke/report';
import { type Command, UsageError } from '../command';

export const smoke: Command = {
  name: 'smoke',
  summary: 'check a deployment from the outside: formats, caching, errors, signatures, the Function URL refused',
  help: USAGE,
  async run(argv) {
    let target: ReturnType<typeof parseSmokeOptions>;
    try {
      target = parseSmokeOptions(argv, process.env);
    } catch (error) {
      // The smoke options' messages carry the usage after a blank line; the dispatcher prints one line.
      if (error instanceof SmokeUsageError) throw new UsageError(error.message.split('\n')[0]);
      throw error;
    }
    const results = await runSmokeChecks(target);
    const report = formatReport(results, `afterimage smoke test of ${target.baseUrl} (image: ${target.path})`);
    // Exit only once the table is written (stdout into a pipe can be asynchronous).
    await new Promise<void>((resolve) => process.stdout.write(report, () => resolve()));
    return exitCode(results);
  },
};
