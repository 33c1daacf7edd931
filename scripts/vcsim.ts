// Starts VMware's vcsim (built by ../shared/tools/vcsim/build.sh into .vcsim-bin) on a random
// loopback port with TLS and a CA file, prints the environment that points Vistack (and govc) at
// it, and keeps it running until SIGINT/SIGTERM. Usage:
//   npx node scripts/vcsim.ts [--write-env FILE] [-- extra vcsim flags]
//   then: set -a; . FILE; set +a; npm start
import { writeFileSync } from 'node:fs';
import { startVcsim } from '../src/drivers/vsphere/testing.ts';

const args = process.argv.slice(2);
const dash = args.indexOf('--');
const extra = dash >= 0 ? args.slice(dash + 1) : [];
const own = dash >= 0 ? args.slice(0, dash) : args;
const at = own.indexOf('--write-env');
const envFile = at >= 0 ? own[at + 1] : undefined;

const sim = await startVcsim({ args: extra });
const env: Record<string, string> = {
  ...sim.env,
  GOVC_URL: sim.url, GOVC_USERNAME: sim.username, GOVC_PASSWORD: sim.password, GOVC_TLS_CA_CERTS: sim.caFile,
};
const text = Object.entries(env).map(([k, v]) => `${k}='${v.replace(/'/g, "'\\''")}'`).join('\n') + '\n';
if (envFile) writeFileSync(envFile, text, { mode: 0o600 });
process.stdout.write(text);
console.error(`vcsim pid ${sim.pid} on ${sim.url}`);
const stop = async () => { await sim.stop(); process.exit(0); };
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
setInterval(() => undefined, 1 << 30);
