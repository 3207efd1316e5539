import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * Layering rules madge cannot see (it finds cycles, not directions). Each rule: the files of
 * one folder of src/ may not import from the folders named.
 */
const RULES: { folder: string; forbidden: string[] }[] = [
  // Configuration is read first, by every role and the CLI: it must not pull in services.
  { folder: 'config', forbidden: ['services'] },
  // The metrics catalogue is handed what it reads: it depends on none of what it measures.
  {
    folder: 'observability',
    forbidden: ['services', 'storage', 'plugins', 'composition', 'routes', 'providers'],
  },
];

const src = new URL('../../src/', import.meta.url);

/** Every module a file names in an import or export ... from, and in dynamic imports. */
function importsOf(text: string): string[] {
  const found: string[] = [];
  for (const pattern of [/\bfrom\s+['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]/g])
    for (const match of text.matchAll(pattern)) if (match[1] !== undefined) found.push(match[1]);
  return found;
}

for (const { folder, forbidden } of RULES)
  describe(`src/${folder}/`, () => {
    const files = readdirSync(new URL(`${folder}/`, src), {
      recursive: true,
      encoding: 'utf8',
    }).filter((file) => file.endsWith('.ts'));

    it('has files to check', () => {
      expect(files.length).toBeGreaterThan(0);
    });

    it(`imports nothing from ${forbidden.join(', ')}`, () => {
      const offending = files.flatMap((file) => {
        const url = new URL(`${folder}/${file}`, src);
        return importsOf(readFileSync(url, 'utf8'))
          .filter((target) => target.startsWith('.'))
          .map((target) => new URL(target, url).pathname.slice(src.pathname.length))
          .filter((target) => forbidden.some((layer) => target.startsWith(`${layer}/`)))
          .map((target) => `${folder}/${file} imports ${target}`);
      });
      expect(offending).toEqual([]);
    });
  });
