#!/usr/bin/env node
// Prints the CHANGELOG.md section of one version (Keep a Changelog: "## [x.y.z] - date"),
// without its heading: the release notes the release workflow publishes.
// Usage: node scripts/release-notes.mjs <version> [changelog]
// Exits 1, saying so, when the changelog has no section for that version or it is empty.
import { readFileSync } from 'node:fs';

const [version, file = 'CHANGELOG.md'] = process.argv.slice(2);
if (!version) {
  console.error('usage: release-notes.mjs <version> [changelog]');
  process.exit(2);
}

const wanted = version.replace(/^v/, '');
const lines = readFileSync(file, 'utf8').split('\n');
const heading = (line) => /^## \[([^\]]+)\]/.exec(line)?.[1];
const start = lines.findIndex((line) => heading(line) === wanted);
if (start === -1) {
  console.error(`${file} has no section for ${wanted} (a "## [${wanted}] - YYYY-MM-DD" heading)`);
  process.exit(1);
}
let end = lines.findIndex((line, index) => index > start && /^## /.test(line));
if (end === -1) end = lines.length;
// Link references ("[0.1.0]: https://...") at the end of the file belong to no section.
const body = lines
  .slice(start + 1, end)
  .filter((line) => !/^\[[^\]]+\]: /.test(line))
  .join('\n')
  .trim();
if (body === '') {
  console.error(`${file}: the section for ${wanted} is empty`);
  process.exit(1);
}
console.log(body);
