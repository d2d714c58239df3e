/** `node --import <this file>`: lists loaded ES modules in RSS_MODULES_FILE (see rss-hooks.ts). */
import { register } from 'node:module';

const file = process.env.RSS_MODULES_FILE;
if (!file) throw new Error('RSS_MODULES_FILE is not set');
register('./rss-hooks.js', import.meta.url, { data: { file } });
