// `npm run sign -- <url> [--endpoint <url-endpoint>] [--expires <seconds>] [--key-file <file>]`:
// signs a delivery URL the way ImageKit's SDKs do (spec section 6), for operators. The key is
// read from AFTERIMAGE_PRIVATE_KEY or --key-file, never from the command line (shell history).

import { readFileSync } from 'node:fs';
import { signUrl } from '../lambda/request/signature';

const USAGE = `Usage: npm run sign -- <url> [--endpoint <url-endpoint>] [--expires <seconds>] [--key-file <file>]
  <url>          the delivery URL, e.g. https://cdn.example.com/images/tr:w-300/shoe.jpg
  --endpoint     the part that is not signed: https://<host>/<endpoint-prefix>/ (default: https://<host>/)
  --expires      seconds from now after which the URL is refused (default: never)
  --key-file     a file holding the private key (default: the AFTERIMAGE_PRIVATE_KEY environment variable)`;

export class UsageError extends Error {}

/** Parses the arguments and returns the signed URL. */
export function signCommand(argv: string[], env: Record<string, string | undefined>, nowMs: number): string {
  let url: string | undefined;
  const options: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') throw new UsageError(USAGE);
    const inline = /^--(endpoint|expires|key-file)=(.*)$/.exec(arg);
    if (inline) options[inline[1]] = inline[2];
    else if (/^--(endpoint|expires|key-file)$/.test(arg)) {
      if (argv[i + 1] === undefined) throw new UsageError(`${arg} needs a value\n\n${USAGE}`);
      options[arg.slice(2)] = argv[++i];
    } else if (arg.startsWith('--')) throw new UsageError(`Unknown option ${arg}\n\n${USAGE}`);
    else if (url === undefined) url = arg;
    else throw new UsageError(`Only one URL at a time\n\n${USAGE}`);
  }
  if (!url) throw new UsageError(USAGE);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`Not a URL: ${url}`);
  }
  const endpoint = options.endpoint ?? `${parsed.origin}/`;
  let key = env.AFTERIMAGE_PRIVATE_KEY;
  if (options['key-file']) {
    try {
      key = readFileSync(options['key-file'], 'utf8').trim();
    } catch {
      throw new UsageError(`Cannot read the key file ${options['key-file']}`);
    }
  }
  if (!key) throw new UsageError(`No private key: set AFTERIMAGE_PRIVATE_KEY or pass --key-file\n\n${USAGE}`);
  let expiresAt: number | undefined;
  if (options.expires !== undefined) {
    if (!/^\d+$/.test(options.expires) || Number(options.expires) < 1) throw new UsageError(`--expires must be a whole number of seconds, received ${options.expires}`);
    expiresAt = Math.floor(nowMs / 1000) + Number(options.expires);
  }
  try {
    return signUrl(url, endpoint, key, expiresAt);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

if (require.main === module) {
  try {
    console.log(signCommand(process.argv.slice(2), process.env, Date.now()));
  } catch (error) {
    console.error(error instanceof UsageError ? error.message : error);
    process.exit(1);
  }
}
