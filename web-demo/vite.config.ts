// The dashboard is served by the gateway at /app/ (embedded into the binary at build time).
// `npm run dev` serves it on Vite's dev server and proxies the API to a running `make run`.
import { defineConfig } from 'vite';

const api = process.env.FINPULSE_URL ?? 'http://127.0.0.1:8000';

export default defineConfig({
  base: '/app/',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 400 },
  server: {
    proxy: {
      '/graphql': { target: api, ws: true },
      '/dev': api,
      '/auth': api,
    },
  },
});
