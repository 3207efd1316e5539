import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * The admin panel: served by the gateway at /ui/ from dist/web. `npm run build` runs this
 * build through scripts/build.mjs; `npx vite --config web/vite.config.ts` serves it with hot
 * reload and passes the API paths through to a running gateway (GATEWAY_URL, default
 * http://127.0.0.1:8000), so the session cookie stays same-origin.
 */
const gateway = process.env.GATEWAY_URL ?? 'http://127.0.0.1:8000';

export default defineConfig({
  root,
  base: '/ui/',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    // No inline modules or styles: the gateway's CSP allows only files from 'self'.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: {
    proxy: {
      '/ui/api': gateway,
      '/admin': gateway,
      '/v1': gateway,
    },
  },
});
