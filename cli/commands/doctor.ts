// `afterimage doctor <config.json>`: the command-line side of cli/doctor (arguments, keys, exit code).

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { OriginConfig } from '../../lambda/config';
import type { SecretsClient } from '../../lambda/origin/secrets';
import { runDoctor, type DoctorKeys } from '../doctor/doctor';

const help = `Usage: afterimage doctor <config.json> [options]

Checks a configuration before it is deployed: validates the file, then lists and reads every
S3 origin and resolves sample paths through every origin of every endpoint. Prints one line
per step (✓ works, ✗ fails, ! worth a look) and a fix under each failure. Exits 1 when a step
fails, 2 on a usage error.

Options:
  --sample <path>          a path to resolve through every endpoint (after its prefix), e.g.
                           products/shoe.jpg; may be repeated
  --secret <arn|name>      check with the keys in the stack's secret (read with your own AWS
                           credentials), as the deployed function would
  --access-key-id <id>     check with this key pair for every origin; the secret key from
                           AFTERIMAGE_SECRET_ACCESS_KEY or --secret-access-key-file (never the
                           command line, where other users and the shell history see it)
  --secret-access-key-file <file>
  --lambda                 validate as the CDK construct does (keys written in the file are refused)
  --help                   this text

Without --secret or --access-key-id, each origin uses its own "credentials"; origins that read
the stack's secret are checked with your own AWS credentials (the SDK's default chain).

Examples:
  afterimage doctor afterimage.config.json --sample products/shoe.jpg
  afterimage doctor afterimage.config.json --lambda --secret arn:aws:secretsmanager:…:secret:afterimage-… --sample products/shoe.jpg
`;

/** What the tests inject: the clients and where the lines go. */
export interface DoctorIo {
  print?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  secretsClient?: SecretsClient;
  createClient?: (origin: OriginConfig) => S3Client;
}

class UsageError extends Error {}

interface Arguments {
  file: string;
  samples: string[];
  secretId?: string;
  accessKeyId?: string;
  secretKeyFile?: string;
  lambda: boolean;
}

function parseArguments(argv: string[]): Arguments | 'help' {
  const args: Partial<Arguments> & { samples: string[]; lambda: boolean } = { samples: [], lambda: false };
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') return 'help';
    if (arg === '--lambda') args.lambda = true;
    else if (arg === '--sample') args.samples.push(value(i++, arg));
    else if (arg === '--secret') args.secretId = value(i++, arg);
    else if (arg === '--access-key-id') args.accessKeyId = value(i++, arg);
    else if (arg === '--secret-access-key-file') args.secretKeyFile = value(i++, arg);
    else if (arg === '--config') args.file = value(i++, arg);
    else if (arg === '--secret-access-key') throw new UsageError('--secret-access-key is not taken on the command line: use AFTERIMAGE_SECRET_ACCESS_KEY or --secret-access-key-file');
    else if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg}`);
    else if (args.file === undefined) args.file = arg;
    else throw new UsageError(`one configuration file only (got ${args.file} and ${arg})`);
  }
  if (!args.file) throw new UsageError('name the configuration file: afterimage doctor <config.json>');
  if (args.secretId && args.accessKeyId) throw new UsageError('--secret and --access-key-id exclude each other');
  return args as Arguments;
}

function keysFrom(args: Arguments, io: DoctorIo, env: NodeJS.ProcessEnv): DoctorKeys {
  if (args.secretId) {
    // An ARN names its region (arn:aws:secretsmanager:<region>:…); a bare name uses the profile's.
    const region = /^arn:[^:]+:secretsmanager:([^:]+):/.exec(args.secretId)?.[1];
    return { source: 'secret', secretId: args.secretId, client: io.secretsClient ?? new SecretsManagerClient(region ? { region } : {}) };
  }
  if (args.accessKeyId) {
    const secretAccessKey = args.secretKeyFile ? readFileSync(resolve(args.secretKeyFile), 'utf8').trim() : env.AFTERIMAGE_SECRET_ACCESS_KEY;
    if (!secretAccessKey) throw new UsageError('--access-key-id needs its secret key in AFTERIMAGE_SECRET_ACCESS_KEY or --secret-access-key-file');
    return { source: 'keys', accessKeyId: args.accessKeyId, secretAccessKey, sessionToken: env.AFTERIMAGE_SESSION_TOKEN };
  }
  return { source: 'configured' };
}

export const doctor = {
  name: 'doctor',
  summary: 'check a configuration: validate it, then list and read every origin and resolve sample paths',
  help,
  async run(argv: string[], io: DoctorIo = {}): Promise<number> {
    const print = io.print ?? ((line: string) => console.log(line));
    let args: Arguments;
    let keys: DoctorKeys;
    let config: unknown;
    try {
      const parsed = parseArguments(argv);
      if (parsed === 'help') {
        print(help);
        return 0;
      }
      args = parsed;
      keys = keysFrom(args, io, io.env ?? process.env);
      let text: string;
      try {
        text = readFileSync(resolve(args.file), 'utf8');
      } catch {
        print(`✗ cannot read the configuration file ${args.file}`);
        return 1;
      }
      try {
        config = JSON.parse(text);
      } catch (error) {
        print(`✗ ${args.file} is not valid JSON: ${(error as Error).message}`);
        return 1;
      }
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      print(`afterimage doctor: ${error.message} (see --help)`);
      return 2;
    }
    const result = await runDoctor({
      config,
      configName: args.file,
      lambda: args.lambda,
      keys,
      samples: args.samples,
      createClient: io.createClient,
      print,
    });
    print(result.failures === 0
      ? `\nAll checks passed${result.warnings ? ` (${result.warnings} warning(s))` : ''}.`
      : `\n${result.failures} check(s) failed.`);
    return result.failures === 0 ? 0 : 1;
  },
};

export default doctor;
