import type { Script } from './scripted-model.js';

/**
 * The default demo conversation for the scripted model (text mode: ```python / ```shell fences).
 *
 * Turn 1 runs Python that prints a token computed at run time (`token 42`); turn 2 runs a shell
 * command that succeeds (`oi-audit-shell-ok` and the kernel name), then one that fails, then closes.
 *
 * Written for Open Interpreter 0.4.3's text-mode parser, which strips the language name from every
 * streamed code delta (`content.replace(language, "")`): the Python code never contains the word
 * "python" and the shell code never contains "shell" (a marker like `shell-ok` would reach the shell as
 * `-ok` whenever a delta holds the whole word), so the shell marker is `sh-ok`.
 */
export const DEMO_SCRIPT: Script = {
  turns: [
    {
      user: 'Compute the audit token in Python.',
      replies: [
        'I will compute the token with a short Python snippet.\n\n```python\nprint("token", 6*7)\n```\n',
        'The code printed token 42, so the audit token is 42.',
      ],
    },
    {
      user: 'Check the shell works, then list a directory that does not exist.',
      replies: [
        'First I will check that the shell works.\n\n```shell\necho sh-ok && uname -s\n```\n',
        'The shell works. Now I will list the missing directory.\n\n```shell\nls /nonexistent-oi-audit-path\n```\n',
        'As expected, ls failed: /nonexistent-oi-audit-path does not exist. Done.',
      ],
    },
  ],
};

/** Strings the demo's code prints, for tests and the demo's own checks. */
export const DEMO_MARKERS = {
  pythonToken: 'token 42',
  shellOk: 'sh-ok',
  missingPath: '/nonexistent-oi-audit-path',
} as const;
