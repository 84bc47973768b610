#!/usr/bin/env node
// `npx afterimage <command>`: registers tsx (a dependency) so the TypeScript entry runs as it is,
// with no build step, then hands over to cli/afterimage.ts (the dispatcher).
require('tsx/cjs/api').register();
require('../cli/afterimage.ts').run(process.argv.slice(2));
