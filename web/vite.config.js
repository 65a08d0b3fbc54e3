import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';

// `npm run dev` proxies the API to a Manager on DUENDE_MANAGER (default
// http://127.0.0.1:8080); `npm run build` writes dist/, which duende-manager
// serves at /.
const manager = process.env.DUENDE_MANAGER || 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [vue()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false },
  server: { proxy: { '/api': manager, '/logfile': manager } },
  test: { include: ['tests/unit/**/*.test.js'] },
});
