import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

// Build: `vite build web` (from the package root) writes web/dist, which is committed and served by `mmrag serve`.
// Develop: run `mmrag serve` on 7860, then `vite web`: API calls are proxied to it.
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [preact()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    assetsDir: 'assets',
    sourcemap: false,
  },
  server: {
    proxy: { '/api': 'http://127.0.0.1:7860' },
  },
});
