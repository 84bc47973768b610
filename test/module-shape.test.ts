// The request flows one way (README "How it works"): URL → plan → origin → pipeline → response,
// one folder of lambda/ per stage. A stage may import the stages before it, never one after it,
// and no module imports one that imports it back. Read from the source files as written.

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const LAMBDA = resolve(__dirname, '../lambda');
/** The stages in the order a request passes them. */
const STAGES = ['request', 'origin', 'image', 'service'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The lambda/ modules a file imports, as paths relative to lambda/ without `.ts` (`request/plan`). */
function localImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:from|import|require\()\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]);
  return specifiers.map((s) => relative(LAMBDA, resolve(dirname(file), s)).replace(/\.ts$/, ''));
}

const FILES = sourceFiles(LAMBDA);
const IMPORTS = new Map(FILES.map((file) => [relative(LAMBDA, file).replace(/\.ts$/, ''), localImports(file)]));
const stageOf = (module: string) => STAGES.indexOf(module.split('/')[0]);

describe('lambda/ imports run one way', () => {
  it('reads the imports it checks', () => {
    expect(IMPORTS.get('service/image-service')).toEqual(expect.arrayContaining(['request/plan', 'origin/types', 'image/format']));
  });

  it('no stage imports a later one (request → origin → image → service)', () => {
    const backwards = [...IMPORTS].flatMap(([module, imports]) =>
      imports.filter((target) => stageOf(module) >= 0 && stageOf(target) > stageOf(module)).map((target) => `${module} → ${target}`),
    );
    expect(backwards).toEqual([]);
  });

  it('no module imports itself back, directly or through others', () => {
    const cycles: string[] = [];
    const visit = (module: string, path: string[]) => {
      for (const target of IMPORTS.get(module) ?? []) {
        if (target === path[0]) cycles.push([...path, target].join(' → '));
        else if (!path.includes(target) && target > path[0]) visit(target, [...path, target]);
      }
    };
    // Each cycle is reported once, from its smallest module name.
    for (const module of IMPORTS.keys()) visit(module, [module]);
    expect(cycles).toEqual([]);
  });
});
