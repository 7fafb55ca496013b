// Compile-time check (tsc, see tsconfig.json): what src/index.js exports must be assignable to the
// published declarations in src/rum.d.ts, and the declarations must cover every export.
import * as implementation from '../src/index.js';
import type * as declared from '../src/rum';

const asDeclared: typeof declared = implementation;
const asImplemented: { [name in keyof typeof implementation]: unknown } = {} as typeof declared;
export { asDeclared, asImplemented };
