// How the Lambda code is bundled, written once: the construct hands it to NodejsFunction and
// test/bundle.test.ts hands the same settings to esbuild's API, so the code tested is the code
// that ships.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import { CONFIG_FILE_NAME } from '../lambda/config/schema';
import { PLAYGROUND_FILE_NAME } from '../lambda/playground/signed-access';
import { BUILT_IN_FONT_FILES } from '../lambda/image/fonts';

export { NODE_FLAGS } from '../lambda/node-flags';

/** The package root: the folder holding lib/ and lambda/, wherever the package is installed. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..');

/** The Lambda entry point, `export const handler = awslambda.streamifyResponse(...)`. */
export const HANDLER_ENTRY = path.join(PACKAGE_ROOT, 'lambda', 'handler.ts');

/**
 * The esbuild settings of the Lambda bundle.
 *
 * Only `sharp` stays outside the bundle: it carries native binaries, so npm installs it into
 * the asset's node_modules for linux-arm64 (see `lambdaNodejsBundling`). Everything else,
 * the AWS SDK included, is bundled: the SDK then has the version the tests ran against, not
 * whichever one the Lambda runtime happens to carry.
 */
export const lambdaBundlingOptions = {
  /** Node.js 22, the Lambda runtime the construct uses. */
  target: 'node22',
  format: 'cjs',
  minify: true,
  /**
   * No source map. With one, `--enable-source-maps` made every cold start slower (loading the
   * bundle ×1.03–×1.15, the whole process ×1.07–×1.13 in `npm run bench:cold-start` runs here)
   * to improve stack traces that only unexpected errors print. `keepNames` keeps function and
   * class names in those traces instead.
   */
  sourceMap: false,
  keepNames: true,
  /**
   * ES modules before CommonJS where a package ships both: esbuild can leave out what the
   * function never imports only from ES modules, so the SDK's clients keep the two or three
   * commands used instead of all of theirs (a 539 KiB bundle instead of 747 KiB, and a faster
   * load: `npm run bench:cold-start`).
   */
  mainFields: ['module', 'main'],
  /**
   * `import()` compiled to `require()`: the SDK's ES modules load some of Node's modules with
   * `import()` on first use, which a CommonJS bundle can do with `require()` just as well (and
   * which a VM without the dynamic-import hook, such as jest's, cannot run at all).
   */
  dynamicImport: false,
  /** Installed with npm into the asset, not bundled. */
  nodeModules: ['sharp'],
  /** Left out of the bundle and not installed: none. */
  externalModules: [] as string[],
} as const;

/** The settings above as esbuild's `BuildOptions` (the subset used), for a given output file. */
export interface EsbuildBuildOptions {
  entryPoints: string[];
  outfile: string;
  bundle: true;
  platform: 'node';
  target: string;
  format: 'cjs';
  minify: boolean;
  sourcemap: boolean;
  keepNames: boolean;
  mainFields: string[];
  supported: Record<string, boolean>;
  external: string[];
  logLevel: 'warning';
}

/** esbuild's JS API equivalent of what NodejsFunction runs on the command line. */
export function esbuildBuildOptions(outfile: string): EsbuildBuildOptions {
  const o = lambdaBundlingOptions;
  return {
    entryPoints: [HANDLER_ENTRY],
    outfile,
    bundle: true,
    platform: 'node',
    target: o.target,
    format: o.format,
    minify: o.minify,
    sourcemap: o.sourceMap,
    keepNames: o.keepNames,
    mainFields: [...o.mainFields],
    supported: { 'dynamic-import': o.dynamicImport },
    external: [...o.externalModules, ...o.nodeModules],
    logLevel: 'warning',
  };
}

/** The wrapper script (lambda/runtime-wrapper.sh) in the asset, through which Lambda starts Node with NODE_FLAGS. */
export const RUNTIME_WRAPPER_FILE_NAME = 'afterimage-runtime';
/** Where Lambda finds it: the asset is unpacked in /var/task (AWS_LAMBDA_EXEC_WRAPPER). */
export const RUNTIME_WRAPPER_PATH = `/var/task/${RUNTIME_WRAPPER_FILE_NAME}`;

/**
 * NodejsFunction's bundling options: local esbuild (no Docker), and an `.npmrc` written
 * before `npm ci` so that npm picks sharp's linux-arm64 glibc binaries whatever the build
 * machine is. npm inherits the environment, so `npm_config_prefer_offline=true` (or any
 * other npm setting) applies to that install too. After the install, the configuration file
 * is copied in beside the bundle and everything the function does not load is removed.
 *
 * @param configFile the validated configuration as JSON, a file under the package root (the
 * bundling input); it becomes `afterimage.config.json` in the asset, so a configuration change
 * is a new asset (its hash is the output's).
 * @param withPlayground also copy the playground page in (construct option `playground.enabled`).
 */
export function lambdaNodejsBundling(configFile: string, withPlayground = false): BundlingOptions {
  const o = lambdaBundlingOptions;
  return {
    target: o.target,
    format: OutputFormat.CJS,
    minify: o.minify,
    sourceMap: o.sourceMap,
    keepNames: o.keepNames,
    mainFields: [...o.mainFields],
    esbuildArgs: { '--supported:dynamic-import': String(o.dynamicImport) },
    nodeModules: [...o.nodeModules],
    externalModules: [...o.externalModules],
    bundleAwsSDK: true,
    forceDockerBundling: false,
    commandHooks: {
      beforeBundling: () => [],
      beforeInstall: (_inputDir: string, outputDir: string) => [
        `printf 'os=linux\\ncpu=arm64\\nlibc=glibc\\n' > ${shellQuote(path.join(outputDir, '.npmrc'))}`,
      ],
      // Read through the bundling input (the package root), so this works in Docker bundling too.
      afterBundling: (inputDir: string, outputDir: string) => [
        `cp ${shellQuote(path.join(inputDir, path.relative(PACKAGE_ROOT, configFile)))} ${shellQuote(path.join(outputDir, CONFIG_FILE_NAME))}`,
        // Lambda runs it: it must be executable whatever the checkout did to the file's mode.
        `cp ${shellQuote(path.join(inputDir, 'lambda', 'runtime-wrapper.sh'))} ${shellQuote(path.join(outputDir, RUNTIME_WRAPPER_FILE_NAME))}`,
        `chmod 755 ${shellQuote(path.join(outputDir, RUNTIME_WRAPPER_FILE_NAME))}`,
        ...(withPlayground ? [`cp ${shellQuote(path.join(inputDir, 'lambda', 'playground', 'index.html'))} ${shellQuote(path.join(outputDir, PLAYGROUND_FILE_NAME))}`] : []),
        ...fontCommands(inputDir, outputDir),
        ...pruneCommands(outputDir),
      ],
    },
  };
}

/**
 * The text layers' built-in fonts (lambda/image/fonts.ts) and their licence, copied into
 * `fonts/` beside the bundle: Lambda's Node.js image has no fonts of its own.
 */
export function fontCommands(inputDir: string, outputDir: string): string[] {
  const staged = stageFonts();
  const sources = staged.map((file) => shellQuote(path.join(inputDir, path.relative(PACKAGE_ROOT, file))));
  return [`mkdir -p ${shellQuote(path.join(outputDir, 'fonts'))}`, `cp ${sources.join(' ')} ${shellQuote(path.join(outputDir, 'fonts'))}`];
}

/**
 * The font files copied under the package's own `.afterimage/cdk/fonts/`: the font package may be
 * hoisted outside the package root when afterimage is installed as a dependency, where bundling
 * in a container (which mounts the package root only) could not reach it.
 */
function stageFonts(): string[] {
  const packageDir = path.dirname(require.resolve('dejavu-fonts-ttf/package.json'));
  const dir = path.join(PACKAGE_ROOT, '.afterimage', 'cdk', 'fonts');
  fs.mkdirSync(dir, { recursive: true });
  return [...BUILT_IN_FONT_FILES.map((file) => path.join(packageDir, 'ttf', file)), path.join(packageDir, 'LICENSE')].map((source) => {
    const target = path.join(dir, path.basename(source));
    if (!fs.existsSync(target) || fs.statSync(target).size !== fs.statSync(source).size) fs.copyFileSync(source, target);
    return target;
  });
}

/**
 * What npm leaves in the asset that the function never loads: the install's own files (the
 * project's whole lock file among them), sharp's C++ sources and build script, type
 * declarations, ES module copies (the bundle is CommonJS), headers and READMEs. Licences stay.
 */
export function pruneCommands(outputDir: string): string[] {
  const q = (relative: string) => shellQuote(path.join(outputDir, relative));
  return [
    `rm -f ${q('.npmrc')} ${q('package.json')} ${q('package-lock.json')} ${q('node_modules/.package-lock.json')}`,
    `rm -rf ${q('node_modules/sharp/src')} ${q('node_modules/sharp/install')} ${q('node_modules/@img/sharp-libvips-linux-arm64/lib/glib-2.0')}`,
    `find ${q('node_modules')} -type f \\( -name '*.d.ts' -o -name '*.d.cts' -o -name '*.d.mts' -o -name '*.mjs' -o -name '*.h' -o -name 'README.md' \\) -delete`,
  ];
}

/** The lock file NodejsFunction installs sharp from: the package's own when it has one. */
export function packageLockFile(): string | undefined {
  const lockFile = path.join(PACKAGE_ROOT, 'package-lock.json');
  return fs.existsSync(lockFile) ? lockFile : undefined;
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
