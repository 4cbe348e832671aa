#!/usr/bin/env node
// Runs the TypeScript sources through tsx (a dependency of the checkout). tsx's compile cache would
// be a file left in the temp folder after every run: Entrechat leaves nothing behind, so it is off.
process.env.TSX_DISABLE_CACHE = '1';
const { register } = await import('tsx/esm/api');
register();
await import('../src/cli/entrechat.ts');
