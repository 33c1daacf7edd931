// Operator commands of the identity service (keystone-manage's Fernet key handling). They work on
// the data directory, so a running cloud need not be stopped: its processes pick up the new
// keys by themselves (they re-read the key repository periodically and on an unknown key).
import { join } from 'node:path';
import { existsSync, readdirSync } from 'node:fs';
import type { Command } from '../cli-commands.ts';
import { loadConfig } from '../core/config.ts';
import { FernetKeys } from './fernet.ts';

function repo(args: string[]): FernetKeys {
  const dataDir = args[0] ?? loadConfig().dataDir;
  return new FernetKeys(join(dataDir, 'fernet-keys'));
}

export const IDENTITY_COMMANDS: Record<string, Command> = {
  'fernet-setup': {
    help: '[data-dir]  create the Fernet key repository if it is empty (done at every start anyway)',
    async run(args) {
      const keys = repo(args);
      keys.setup();
      console.log(`Fernet keys in ${keys.dir}: primary key ${keys.primaryIndex}`);
    },
  },
  'fernet-rotate': {
    help: '[data-dir]  rotate the Fernet keys: the staged key becomes primary, a new key is staged, the oldest beyond 3 is removed',
    async run(args) {
      const keys = repo(args);
      if (!existsSync(keys.dir) || !readdirSync(keys.dir).length) throw new Error(`no Fernet key repository at ${keys.dir}`);
      const primary = keys.rotate();
      console.log(`Fernet keys in ${keys.dir} rotated: primary key is now ${primary}`);
    },
  },
};
