// One vCenter as the three drivers see it: the vim25 client (logged in, kept alive) and the
// discovered inventory. The compute, network and volume drivers share one VSphereSession per
// vCenter, as Nova's vmwareapi driver shares its oslo.vmware session.
import { readFileSync } from 'node:fs';
import type { VCenterConfig } from './config.ts';
import { Inventory } from './inventory.ts';
import { VimClient, type VimLogger } from './vim/client.ts';

export class VSphereSession {
  readonly config: VCenterConfig;
  readonly client: VimClient;
  readonly inventory: Inventory;
  private opened: Promise<void> | null = null;

  constructor(config: VCenterConfig, log?: VimLogger) {
    this.config = config;
    this.client = new VimClient({
      url: config.url, username: config.username, password: config.password,
      ...(config.caFile ? { ca: readFileSync(config.caFile) } : {}),
      insecure: config.insecure, connections: config.connections, ...(log ? { log } : {}),
    });
    this.client.tasks.defaultTimeoutMs = config.taskTimeoutMs;
    this.inventory = new Inventory(this.client, config);
  }

  /** Logs in and discovers the inventory; concurrent callers share one attempt. */
  open(): Promise<void> {
    if (!this.opened) {
      this.opened = (async () => {
        await this.client.connect();
        await this.inventory.refresh();
      })();
      this.opened.catch(() => { this.opened = null; });
    }
    return this.opened;
  }

  async close(): Promise<void> {
    this.opened = null;
    await this.client.close();
  }
}
