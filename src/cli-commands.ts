// The admin commands, by name. Modules add theirs here.
export interface Command {
  help: string;
  run(args: string[]): Promise<void>;
}

export const COMMANDS: Record<string, Command> = {};
