/**
 * Variables an agent's process tree gets from this process (both agents build their child environment from
 * it). Everything else stays out: generated code runs in this environment.
 */
export const INHERITED_ENV = ['PATH', 'LANG', 'LANGUAGE', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'TERM', 'SHELL', 'USER', 'LOGNAME'];
