// Builds the dashboard into dist/: one bundled, minified script, the stylesheet and the page.
// Run through scripts/dashboard.sh, which installs the pinned dependencies first.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';

const out = new URL('./dist/', import.meta.url).pathname;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ['src/main.js'],
  bundle: true,
  minify: true,
  format: 'iife',
  platform: 'browser',
  target: ['chrome110', 'firefox110', 'safari16'],
  outfile: `${out}app.js`,
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync('src/index.html', `${out}index.html`);
copyFileSync('src/style.css', `${out}app.css`);
