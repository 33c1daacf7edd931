// `npm start`: the whole cloud in the foreground. VISTACK_DATA_DIR (default ./data) holds all
// state; VISTACK_PORT (default 5000) is the port on 127.0.0.1. SIGTERM/SIGINT stop it cleanly.
import { enableCompileCache } from 'node:module';

// Node's compile cache keeps the type-stripped, compiled modules in .cache/ of the project: a
// restart skips TypeScript stripping, which roughly halves the time to ready and saves memory.
// It must be on before the cloud's modules load, hence the dynamic import.
enableCompileCache(new URL('../.cache/node-compile-cache', import.meta.url).pathname);
const { startCloud, writeCloudsYaml } = await import('./app.ts');

const t0 = performance.now();
// A start that cannot work (bad settings, an unreachable vCenter) says why in one line, no stack.
const cloud = await startCloud().catch((e: unknown) => {
  console.error(`Vistack could not start: ${e instanceof Error ? e.message : String(e)}`);
  if (process.env.VISTACK_LOG_LEVEL === 'debug') console.error(e);
  process.exit(1);
});
const clouds = writeCloudsYaml(cloud);
const ms = Math.round(performance.now() - t0);
console.log(`Vistack is ready in ${ms} ms (${cloud.ctx.driver.name} driver, ${cloud.ctx.db.dialect} database)
  auth URL:    ${cloud.authUrl}
  admin:       user admin, password ${cloud.config.adminPassword}, project admin (domain Default)
  demo:        user demo, password ${cloud.config.demoPassword}, project demo
  clouds.yaml: ${clouds}
  try:         OS_CLIENT_CONFIG_FILE=${clouds} openstack --os-cloud vistack server list`);

let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, async () => {
    if (stopping) return;
    stopping = true;
    await cloud.close();
    process.exit(0);
  });
}
