/** Fork a helper process that answers `{ id, cmd, ... }` requests over IPC with `{ id, ok, result | error }`. */
import { fork } from 'node:child_process';

export async function forkHelper(file, args = [], options = {}) {
  const child = fork(file, args, { execArgv: options.execArgv ?? [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: options.env ?? process.env });
  let nextId = 0;
  const pending = new Map();
  let exited;
  child.on('message', (msg) => {
    const p = pending.get(msg?.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(new Error(msg.error));
  });
  child.on('exit', (code, signal) => {
    exited = `helper ${file} exited (code ${code}, signal ${signal})`;
    for (const p of pending.values()) p.reject(new Error(exited));
    pending.clear();
  });
  const call = (cmd, payload = {}) =>
    new Promise((resolve, reject) => {
      if (exited) return reject(new Error(exited));
      const id = ++nextId;
      pending.set(id, { resolve, reject });
      child.send({ id, cmd, ...payload });
    });
  await call('ready');
  return {
    pid: child.pid,
    call,
    close: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || exited) return resolve();
        child.once('exit', () => resolve());
        child.disconnect();
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}

/** In the helper: serve commands with the given handlers (`ready` is built in). */
export function serveCommands(handlers) {
  process.on('message', async (msg) => {
    if (!msg || typeof msg.id !== 'number') return;
    try {
      const handler = msg.cmd === 'ready' ? async () => true : handlers[msg.cmd];
      if (!handler) throw new Error(`unknown command ${msg.cmd}`);
      const result = await handler(msg);
      process.send({ id: msg.id, ok: true, result });
    } catch (err) {
      process.send({ id: msg.id, ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) });
    }
  });
  process.on('disconnect', () => process.exit(0));
}
