// Build the web app into web/dist (committed, so `mmrag serve` needs no build step). Same as `vite build web`.
import { build } from 'vite';

await build({ configFile: new URL('../web/vite.config.ts', import.meta.url).pathname });
