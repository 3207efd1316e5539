// Builds dist/ from src/, compiling only what changed since the last build (`npm start` runs
// this every time). tsc's build mode skips the whole compile when no input is newer than
// dist/.tsbuildinfo, but it never looks at the outputs themselves and never deletes any, so
// this script settles dist/ with src/ first: outputs whose source is gone are removed (a
// stale module could still be imported by name and hide a missing file), and a missing
// output drops the build info, so tsc compiles everything again instead of trusting it.
// Then the admin panel (web/) is built with Vite into dist/web, when any of its sources is
// newer than the last build.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');
const dist = join(root, 'dist');
const buildInfo = join(dist, '.tsbuildinfo');

/** Every file under `directory`, as paths relative to it. */
function filesUnder(directory) {
  if (!existsSync(directory)) return [];
  return readdirSync(directory, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(directory, join(entry.parentPath, entry.name)));
}

const modules = new Set(
  filesUnder(src)
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map((file) => file.slice(0, -'.ts'.length)),
);

for (const file of filesUnder(dist)) {
  const module = /^(.*)\.js(\.map)?$/.exec(file)?.[1];
  if (module !== undefined && !modules.has(module)) rmSync(join(dist, file));
}
if ([...modules].some((module) => !existsSync(join(dist, `${module}.js`)))) {
  rmSync(buildInfo, { force: true });
}

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const result = spawnSync(process.execPath, [tsc, '--build', 'tsconfig.build.json'], {
  cwd: root,
  stdio: 'inherit',
});
if (result.status !== 0) process.exit(result.status ?? 1);

const web = join(root, 'web');
const webIndex = join(dist, 'web', 'index.html');
/** The newest modification time among the web app's sources and the packages it builds with. */
function newestWebSource() {
  const inputs = [
    ...filesUnder(web).map((file) => join(web, file)),
    join(root, 'package-lock.json'),
  ];
  return Math.max(
    ...inputs.filter((file) => existsSync(file)).map((file) => statSync(file).mtimeMs),
  );
}
if (!existsSync(webIndex) || statSync(webIndex).mtimeMs < newestWebSource()) {
  const { build } = await import('vite');
  await build({ configFile: join(web, 'vite.config.ts'), logLevel: 'warn' });
}
