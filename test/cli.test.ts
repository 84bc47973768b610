// README "Command-line tool": `npx afterimage <command>` runs from the package's bin (a JS shim
// that registers tsx), lists its commands, prints --help for each, and answers a bad command
// line with one line on stderr and exit code 2, never a stack trace. Spawned as a user runs it.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import packageJson from '../package.json';
import { COMMANDS } from '../cli/afterimage';
import { runCli } from './helpers/cli';

const root = join(__dirname, '..');

describe('afterimage (the bin)', () => {
  test('package.json names the shim as the afterimage bin, and it is a plain script node runs', () => {
    expect(packageJson.bin).toEqual({ afterimage: 'bin/afterimage.js' });
  });

  test('--help lists every command with its summary', async () => {
    const { code, stdout, stderr } = await runCli(['--help']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(COMMANDS.map((c) => c.name)).toEqual(expect.arrayContaining(['sign', 'purge', 'smoke', 'doctor']));
    for (const command of COMMANDS) expect(stdout).toContain(`  ${command.name}`);
    for (const command of COMMANDS) expect(stdout).toContain(command.summary);
  });

  test("the README's command table names every command", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const documented = [...readme.matchAll(/^\| `afterimage ([a-z]+) /gm)].map((m) => m[1]);
    expect(documented).toEqual(COMMANDS.map((c) => c.name));
  });

  test('no command: the overview on stderr, exit code 2', async () => {
    const { code, stdout, stderr } = await runCli([]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^Usage: afterimage <command>/);
  });

  test('an unknown command: one line naming the commands, exit code 2', async () => {
    const { code, stderr } = await runCli(['purj', '/a.jpg']);
    expect(code).toBe(2);
    expect(stderr).toBe('afterimage: unknown command "purj" (commands: sign, purge, smoke, doctor); see afterimage --help\n');
  });
});

describe.each(['sign', 'purge', 'smoke'])('afterimage %s', (name) => {
  test('--help prints its usage and options, exit code 0', async () => {
    const { code, stdout, stderr } = await runCli([name, '--help']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(new RegExp(`^Usage: afterimage ${name} `));
    expect(stdout.split('\n').length).toBeGreaterThan(5);
  });

  test('an unknown option: one line, exit code 2, no stack trace', async () => {
    const { code, stdout, stderr } = await runCli([name, 'https://cdn.example.com/a.jpg', '--frobnicate', 'x']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.toLowerCase()).toBe(`afterimage ${name}: unknown option --frobnicate (see afterimage ${name} --help)\n`);
  });
});

describe('bad arguments, command by command: one line naming what was wrong, exit code 2', () => {
  it.each([
    [['sign'], /^afterimage sign: name the URL to sign/],
    [['sign', 'not a url'], /^afterimage sign: not a URL: not a url/],
    [['sign', 'https://cdn/x.jpg', '--expires', 'soon'], /--expires must be a whole number of seconds, received soon/],
    [['sign', 'https://cdn/x.jpg', '--endpoint'], /--endpoint needs a value/],
    [['purge'], /^afterimage purge: name at least one image path/],
    [['purge', '/a.jpg', '--config', '/nonexistent/config.json'], /cannot read the configuration \/nonexistent\/config.json/],
    [['purge', '/a.jpg', '--dry-run=yes', '--config', 'afterimage.config.example.json'], /--dry-run takes no value/],
    [['smoke', 'https://d111.cloudfront.net'], /^afterimage smoke: --path is required/],
    [['smoke', 'ftp://x', '--path', 'a.jpg'], /must be an http\(s\) URL/],
  ])('%j', async (args, message) => {
    const { code, stderr } = await runCli(args, { AFTERIMAGE_PRIVATE_KEY: 'k' });
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});

describe('afterimage sign: the same command as npm run sign', () => {
  test('prints the signed URL', async () => {
    const { code, stdout } = await runCli(['sign', 'https://cdn.example.com/private/tr:w-300/shoe.jpg', '--endpoint', 'https://cdn.example.com/private/'], {
      AFTERIMAGE_PRIVATE_KEY: 'private_key_test',
    });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^https:\/\/cdn\.example\.com\/private\/tr:w-300\/shoe\.jpg\?ik-s=[0-9a-f]{40}\n$/);
  });

  test('npm run sign runs it', async () => {
    const child = await new Promise<{ code: number | null; stdout: string }>((done) => {
      const p = spawn('npm', ['run', '--silent', 'sign', '--', 'https://cdn.example.com/a.jpg'], { cwd: root, env: { ...process.env, AFTERIMAGE_PRIVATE_KEY: 'k' } });
      let stdout = '';
      p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      p.on('close', (code) => done({ code, stdout }));
    });
    expect(child.code).toBe(0);
    expect(child.stdout).toMatch(/^https:\/\/cdn\.example\.com\/a\.jpg\?ik-s=[0-9a-f]{40}\n$/);
  });
});
