// `npm run smoke -- https://<distribution-domain> --path <key> [options]`: checks a deployment
// from the outside (see smoke/checks.ts) and prints one line per check. Exit code 1 when a
// check failed, 2 for a bad command line.

import { runSmokeChecks } from '../smoke/checks';
import { UsageError, parseSmokeOptions } from '../smoke/options';
import { exitCode, formatReport } from '../smoke/report';

async function main(): Promise<number> {
  const target = parseSmokeOptions(process.argv.slice(2), process.env);
  const results = await runSmokeChecks(target);
  const report = formatReport(results, `afterimage smoke test of ${target.baseUrl} (image: ${target.path})`);
  // Exit only once the table is written (stdout into a pipe can be asynchronous).
  await new Promise<void>((resolve) => process.stdout.write(report, () => resolve()));
  return exitCode(results);
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error instanceof UsageError ? error.message : error);
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);
