// The support-chat widget: one self-contained script (`dist/widget.js`, an IIFE that defines
// `window.FinpulseWidget`), built after the dashboard into the same folder. Its CSS is inlined
// into the script and put in the widget's shadow root, so a host page needs one tag.
import { defineConfig } from 'vite';

export default defineConfig({
  publicDir: false,
  build: {
    outDir: 'dist',
    emptyOutDir: false,
    target: 'es2022',
    lib: {
      entry: 'src/widget/index.ts',
      formats: ['iife'],
      name: 'FinpulseWidget',
      fileName: () => 'widget.js',
    },
  },
});
