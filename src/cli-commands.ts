// The admin commands, by name. Modules add theirs here.
import { SIM_COMMANDS } from './drivers/simulator/cli.ts';
import { IDENTITY_COMMANDS } from './identity/cli.ts';
import { VSPHERE_COMMANDS } from './drivers/vsphere/cli.ts';

export interface Command {
  help: string;
  run(args: string[]): Promise<void>;
}

export const COMMANDS: Record<string, Command> = {
  ...SIM_COMMANDS,
  ...IDENTITY_COMMANDS,
  ...VSPHERE_COMMANDS,
};
