// Lets `node --import ./tools/ts-loader.mjs tools/x.ts` run the repository's TypeScript tools without a build
// step (Node 20 cannot strip types itself): `.js` specifiers resolve to the `.ts` file beside them, and `.ts`
// files are transpiled with the project's own `typescript` (types dropped, no type checking).
import { register } from 'node:module';

register('./ts-loader-hooks.mjs', import.meta.url);
