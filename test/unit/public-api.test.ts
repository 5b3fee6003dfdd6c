import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as api from '../../src/index.js';

/**
 * The published library (package.json "exports": `.` and `./register`) carries no demo or dev tooling:
 * checked on the export names and on every file the two entry points reach, and on the packages those
 * files import (a devDependency there would break an install without dev dependencies).
 */
const ROOT = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\bfrom\s*)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every src file reachable from the entry points, and every package specifier they import. */
function reach(entries: string[]): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
        if (target.endsWith('.ts')) queue.push(target);
      } else {
        packages.set(spec, relative(ROOT, file));
      }
    }
  }
  return { files, packages };
}

const { files, packages } = reach([join(ROOT, 'src/index.ts'), join(ROOT, 'src/register.ts')]);

describe('public API', () => {
  it('reaches the library (the walk is not vacuous)', () => {
    expect(files.size).toBeGreaterThan(50);
    expect(Object.keys(api)).toContain('register');
  });

  it('exports nothing demo- or dev-only', () => {
    const bad = Object.keys(api).filter((name) => /scripted|demo|grafana|dashboard|standin|fixture/i.test(name));
    expect(bad).toEqual([]);
  });

  it('reaches no file of src/demo/ and nothing outside src/', () => {
    const rel = [...files].map((f) => relative(ROOT, f));
    expect(rel.filter((f) => f.startsWith('src/demo/') || !f.startsWith('src/'))).toEqual([]);
  });

  it('imports only runtime or peer dependencies and Node built-ins', () => {
    const allowed = new Set([...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies)]);
    const name = (spec: string) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    const bad = [...packages]
      .filter(([spec]) => !spec.startsWith('node:') && !builtinModules.includes(spec) && !allowed.has(name(spec)))
      .map(([spec, file]) => `${spec} (${file})`);
    expect(bad).toEqual([]);
  });
});
