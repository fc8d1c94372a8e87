// Two builds from one source tree (package.json's "build" runs both):
//   vite build                the dashboard the gateway serves at /: index.html and hashed assets
//   vite build --mode report  one IIFE script and one stylesheet that the simulator inlines into
//                             its self-contained report.html
// TOKENGRID_WEB_OUT names the output directory (the CMake build sets it); both builds write
// below it, in dashboard/ and report/.
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

const out = process.env.TOKENGRID_WEB_OUT || resolve(import.meta.dirname, 'dist');

export default defineConfig(({ mode }) => {
  const common = { logLevel: 'warn', build: { emptyOutDir: true, reportCompressedSize: false, chunkSizeWarningLimit: 1200 } };
  if (mode === 'report') {
    return {
      ...common,
      publicDir: false,
      // Library mode leaves process.env.NODE_ENV for a bundler that never comes: a report opened
      // in a browser would stop at its first reference.
      define: { 'process.env.NODE_ENV': JSON.stringify('production') },
      build: {
        ...common.build,
        outDir: resolve(out, 'report'),
        lib: { entry: resolve(import.meta.dirname, 'src/report.js'), name: 'TokengridReport', formats: ['iife'],
               fileName: () => 'report.js', cssFileName: 'report' },
      },
    };
  }
  return {
    ...common,
    base: '/',
    build: { ...common.build, outDir: resolve(out, 'dashboard'), assetsDir: 'assets', modulePreload: { polyfill: false } },
  };
});
