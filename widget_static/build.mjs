// Builds the two widget scripts from src/ (one core, a thin entry point per version) into
// static/widget_static/, where Django's static files finder, collectstatic and the
// /widget.js and /widget/v2.js views find them. Prints each one's minified and gzip size
// and fails when one is over the budget.  Run: npm run build
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const GZIP_BUDGET_BYTES = 15 * 1024;
const WIDGETS = [
  {
    entry: 'src/v1.js',
    path: '/widget.js',
    out: 'static/widget_static/widget-v1.js',
    banner: '/*! Chatorical chat widget v1, served as /widget.js. Built from widget_static/src/. */',
  },
  {
    entry: 'src/v2.js',
    path: '/widget/v2.js',
    out: 'static/widget_static/widget-v2.js',
    banner: '/*! Chatorical chat widget v2, served as /widget/v2.js. Built from widget_static/src/. */',
  },
];

let overBudget = false;
for (const widget of WIDGETS) {
  await build({
    absWorkingDir: HERE,
    entryPoints: [widget.entry],
    outfile: widget.out,
    bundle: true,
    // A classic script (no module syntax), and nothing newer than iOS 14 Safari knows.
    format: 'iife',
    target: 'es2017',
    minify: true,
    legalComments: 'none',
    // The modules were strict; the one script they become stays so.
    banner: { js: `${widget.banner}\n'use strict';` },
    logLevel: 'warning',
  });
  const code = readFileSync(HERE + widget.out);
  const gzipped = gzipSync(code, { level: 9 }).length;
  console.log(`widget ${widget.path}: ${code.length} bytes minified, ${gzipped} bytes gzip (budget ${GZIP_BUDGET_BYTES})`);
  if (gzipped > GZIP_BUDGET_BYTES) {
    console.error(`widget ${widget.path} (${widget.out}) is over the budget of ${GZIP_BUDGET_BYTES} bytes gzip`);
    overBudget = true;
  }
}
if (overBudget) process.exit(1);
