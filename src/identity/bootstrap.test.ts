import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestCloud, login } from '../testing.ts';

test('a restart re-applies a changed admin password (after ready, not on the start path)', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'vistack-bootstrap-'));
  try {
    let cloud = await startTestCloud({ dataDir, adminPassword: 'first' }, { freshDatabase: true });
    await login(cloud, 'admin', 'first');
    await cloud.close();

    cloud = await startTestCloud({ dataDir, adminPassword: 'second' });
    await cloud.close(); // waits for the background password check
    cloud = await startTestCloud({ dataDir, adminPassword: 'second' });
    await login(cloud, 'admin', 'second');
    await assert.rejects(login(cloud, 'admin', 'first'), /401/);
    await cloud.close();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
