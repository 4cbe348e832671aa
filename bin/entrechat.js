#!/usr/bin/env node
// Runs the TypeScript sources through tsx (a dependency of the checkout).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/entrechat.ts');
