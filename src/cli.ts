// `npm run vistack -- <command>`: operator commands that work on the data directory or on a
// running cloud (simulator inventory, Fernet key rotation ...). Each module contributes commands.
import { COMMANDS } from './cli-commands.ts';

const [name, ...args] = process.argv.slice(2);
const cmd = name ? COMMANDS[name] : undefined;
if (!cmd) {
  console.log('usage: npm run vistack -- <command> [args]\n\ncommands:');
  for (const [n, c] of Object.entries(COMMANDS)) console.log(`  ${n.padEnd(24)} ${c.help}`);
  process.exit(name ? 2 : 0);
}
try {
  await cmd.run(args);
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
}
