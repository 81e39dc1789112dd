// Build configuration for the Corio dashboard. corio-cloud serves web/dist at the root of
// its HTTP port, but nothing here assumes that: assets are referenced relatively
// (base './') and the app routes inside the URL fragment, so the same files also work
// behind a reverse proxy under a path prefix. JSX goes through esbuild's automatic
// runtime, which is all a React app needs from a plugin.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  base: './',
  esbuild: {
    jsx: 'automatic',
    jsxImportSource: 'react',
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    // echarts is large even tree-shaken; keep it in its own chunk so the app code
    // changes without invalidating it in caches.
    rollupOptions: {
      output: {
        manualChunks: (id: string) => (id.includes('node_modules/echarts') || id.includes('node_modules/zrender') ? 'echarts' : undefined),
      },
    },
    chunkSizeWarningLimit: 1200,
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
