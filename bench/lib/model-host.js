/** Helper process for part 2: the scripted model (the "remote" LLM), out of the measured processes. */
import { startScriptedModel } from '../../dist/demo/scripted-model.js';
import { serveCommands } from './ipc-child.js';

import { STREAM_USER_TEXT } from './stream-text.js';

const models = [];

serveCommands({
  /** A model whose reply streams as exactly `chunks` content deltas of `chunkSize` characters. */
  async start({ chunks = 500, chunkSize = 8, chunkDelayMs = 0 }) {
    const word = 'lorem ip';
    const content = word.repeat(Math.ceil((chunks * chunkSize) / word.length)).slice(0, chunks * chunkSize);
    const model = await startScriptedModel({ script: { turns: [{ user: STREAM_USER_TEXT, replies: [content] }] }, chunkSize, chunkDelayMs });
    models.push(model);
    return { url: model.url, contentChars: content.length };
  },
  async close() {
    await Promise.all(models.map((m) => m.close()));
    return true;
  },
});
