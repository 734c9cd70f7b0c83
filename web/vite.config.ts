import { defineConfig, type Plugin } from 'vite';
import preact from '@preact/preset-vite';
import fs from 'node:fs';

// The licences of the libraries bundled into the JS (MIT, Apache-2.0): shipped beside it as
// THIRD-PARTY-LICENSES.txt (in the .deb: /usr/share/doc/scalp-radar/web-third-party-licenses).
function licences(): Plugin {
  const libs = ['preact', 'lightweight-charts', 'uplot'];
  return {
    name: 'third-party-licences',
    generateBundle() {
      const text = libs
        .map((l) => {
          const pkg = JSON.parse(fs.readFileSync(`node_modules/${l}/package.json`, 'utf8'));
          return `${l} ${pkg.version} (${pkg.license})\n${'='.repeat(60)}\n${fs.readFileSync(`node_modules/${l}/LICENSE`, 'utf8')}`;
        })
        .join('\n\n');
      this.emitFile({
        type: 'asset',
        fileName: 'THIRD-PARTY-LICENSES.txt',
        source: `The Scalp Radar dashboard bundles these libraries.\nCharts by TradingView Lightweight Charts™ (https://www.tradingview.com/).\n\n${text}`,
      });
    },
  };
}

// The dashboard is served by scalp-api from its `web_dir` (same origin as the API).
// `npm run dev` proxies the API to a scalp-api on 127.0.0.1:8000.
export default defineConfig({
  plugins: [preact(), licences()],
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
