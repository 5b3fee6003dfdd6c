/**
 * Makes Open Interpreter's Jupyter kernel report a block done only after its captured fd output is published.
 *
 * Root cause of lost output tails (measured, issue #13): ipykernel 6.x captures fd 1 and fd 2 by pointing them at
 * a pipe that a daemon thread (`OutStream._watch_pipe_fd`) reads and publishes. When a cell finishes, the kernel
 * flushes what that thread has already read and then publishes `status: idle`; bytes still in the pipe (up to its
 * 64 KiB capacity) or in the thread's hands are published after `idle`. Open Interpreter 0.4.3 stops listening at
 * `idle` and ends the block, so that tail never reaches the LMC stream (or shows up in the next block). Anything
 * that slows the reader thread (strace, a loaded machine) widens the window: 6 % of a 2 MiB burst was lost.
 *
 * The fix uses IPython's own extension point, a profile startup file: a `post_execute` hook (it runs inside the
 * cell, before the kernel's final flush and `idle`) waits until each watched pipe is empty and its reader thread
 * is blocked reading it again (/proc/self/task/<tid>/syscall), then flushes. Bounded: it gives up after
 * DRAIN_LIMIT_SECONDS (a background process flooding the pipe), so a block never hangs on it.
 *
 * Not a security control: generated code runs in the same process and can unregister the hook. Output that a
 * background process writes after its block ended is still published late (Open Interpreter then relays it with
 * the next block); execution ground truth records such processes as still running.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const DRAIN_LIMIT_SECONDS = 10;

const STARTUP_FILE = '00-oi-audit-drain-output.py';

export const KERNEL_DRAIN_SOURCE = String.raw`# Written by oi-audit for this session (src/agents/classic/process/kernel-drain.ts): publish every byte of captured fd
# output before the kernel reports the cell idle.
def _oi_audit_install_drain():
    import fcntl, os, platform, struct, sys, termios, time
    read_nr = {'x86_64': 0, 'amd64': 0, 'aarch64': 63, 'arm64': 63}.get(platform.machine().lower())

    def pending(fd):
        try:
            return struct.unpack('i', fcntl.ioctl(fd, termios.FIONREAD, b'\0\0\0\0'))[0]
        except OSError:
            return 0

    def reader_waiting(tid, fd):
        # True: the thread is blocked in read(fd); False: it is busy; None: cannot tell here.
        if read_nr is None or tid is None:
            return None
        try:
            with open('/proc/self/task/%d/syscall' % tid) as f:
                fields = f.read().split()
        except OSError:
            return None
        if not fields or fields[0] == 'running':
            return False
        try:
            return int(fields[0]) == read_nr and int(fields[1], 16) == fd
        except (ValueError, IndexError):
            return None

    def drain():
        deadline = time.monotonic() + ${DRAIN_LIMIT_SECONDS}
        for stream in (sys.stdout, sys.stderr):
            fd = getattr(stream, '_fid', None)
            thread = getattr(stream, 'watch_fd_thread', None)
            if fd is None or thread is None or not getattr(stream, '_should_watch', False) or not thread.is_alive():
                continue
            settled = 0
            while time.monotonic() < deadline:
                if pending(fd) == 0:
                    waiting = reader_waiting(getattr(thread, 'native_id', None), fd)
                    if waiting:
                        break
                    if waiting is None:
                        settled += 1
                        if settled >= 25:
                            break
                else:
                    settled = 0
                time.sleep(0.002)
            try:
                stream.flush()
            except Exception:
                pass

    get_ipython().events.register('post_execute', drain)


try:
    _oi_audit_install_drain()
finally:
    del _oi_audit_install_drain
`;

/** Creates an IPython directory (IPYTHONDIR) whose default profile runs the drain hook at kernel start. */
export function writeKernelDrainProfile(ipythonDir: string): void {
  const startup = join(ipythonDir, 'profile_default', 'startup');
  mkdirSync(startup, { recursive: true, mode: 0o700 });
  writeFileSync(join(startup, STARTUP_FILE), KERNEL_DRAIN_SOURCE, { mode: 0o600 });
}
