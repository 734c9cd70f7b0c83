import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

// The dashboard is served by scalp-api from its `web_dir` (same origin as the API).
// `npm run dev` proxies the API to a scalp-api on 127.0.0.1:8000.
export default defineConfig({
  plugins: [preact()],
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:8000',
      '/health': 'http://127.0.0.1:8000',
      '/ws': { target: 'ws://127.0.0.1:8000', ws: true },
    },
  },
});
