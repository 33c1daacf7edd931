// Volume transfers over HTTP: offer a volume, accept it from another project with the auth key
// (the volume and its snapshots move), wrong keys, quota of the receiver, cancel, lists.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Session, TestCloud } from '../testing.ts';
import { setup } from './test_helpers.ts';

let cloud: TestCloud;
let admin: Session;
let demo: Session;
let alt: Session;
let adminProject: string;
let demoProject: string;
let altProject: string;
const A = (path: string) => `/volume/v3/${adminProject}${path}`;
const D = (path: string) => `/volume/v3/${demoProject}${path}`;
const L = (path: string) => `/volume/v3/${altProject}${path}`;

before(async () => {
  ({ cloud, admin, demo, alt, adminProject, demoProject, altProject } = await setup());
});
after(async () => { await cloud?.close(); });

const idle = () => cloud.ctx.tasks.idle();

async function volume(size = 1): Promise<string> {
  const r = await demo.json('POST', D('/volumes'), { volume: { size, name: 'to-give' } });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  await idle();
  return r.body.volume.id;
}
const volumeStatus = async (s: Session, path: string) => (await s.json('GET', path)).body.volume?.status;
const transferRows = async () => Number((await cloud.ctx.db.get('SELECT COUNT(*) AS n FROM cinder_transfers'))!.n);

async function offer(volumeId: string, name: string | null = 'gift') {
  const r = await demo.json('POST', D('/os-volume-transfer'), { transfer: { volume_id: volumeId, name } });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body.transfer;
}

test('a transfer moves the volume and its snapshots to the accepting project', async () => {
  const vol = await volume();
  const snap = await demo.json('POST', D('/snapshots'), { snapshot: { volume_id: vol, name: 'comes-along' } });
  assert.equal(snap.status, 202);
  await idle();

  const t = await offer(vol);
  assert.equal(t.volume_id, vol);
  assert.equal(t.name, 'gift');
  assert.match(t.auth_key, /^[0-9a-f]{16}$/);
  assert.equal(t.links[0].rel, 'self');
  assert.ok(t.links[0].href.endsWith(`/volume/v3/${demoProject}/os-volume-transfer/${t.id}`));
  assert.equal(await volumeStatus(demo, D(`/volumes/${vol}`)), 'awaiting-transfer');

  const shown = await demo.json('GET', D(`/os-volume-transfer/${t.id}`));
  assert.equal(shown.status, 200);
  assert.deepEqual(Object.keys(shown.body.transfer).sort(), ['created_at', 'id', 'links', 'name', 'volume_id']);
  // The receiver cannot see the offer, only accept it with the key.
  assert.equal((await alt.json('GET', L(`/os-volume-transfer/${t.id}`))).status, 404);

  const wrong = await alt.json('POST', L(`/os-volume-transfer/${t.id}/accept`), { accept: { auth_key: '0000000000000000' } });
  assert.equal(wrong.status, 400);
  assert.equal(wrong.body.badRequest.message, `Invalid auth key: Attempt to transfer ${t.id} with invalid auth key.`);
  assert.equal(await volumeStatus(demo, D(`/volumes/${vol}`)), 'awaiting-transfer');

  const ok = await alt.json('POST', L(`/os-volume-transfer/${t.id}/accept`), { accept: { auth_key: t.auth_key } });
  assert.equal(ok.status, 202, JSON.stringify(ok.body));
  assert.deepEqual(Object.keys(ok.body.transfer).sort(), ['id', 'links', 'name', 'volume_id']);
  assert.equal(ok.body.transfer.volume_id, vol);

  // The volume and its snapshot are now alt_demo's, available; demo sees neither.
  const moved = await alt.json('GET', L(`/volumes/${vol}`));
  assert.equal(moved.status, 200);
  assert.equal(moved.body.volume.status, 'available');
  assert.equal(moved.body.volume.user_id, alt.body.token.user.id);
  assert.equal((await demo.json('GET', D(`/volumes/${vol}`))).status, 404);
  const snapNow = await alt.json('GET', L(`/snapshots/${snap.body.snapshot.id}`));
  assert.equal(snapNow.status, 200);
  assert.equal(snapNow.body.snapshot['os-extended-snapshot-attributes:project_id'], altProject);
  assert.equal((await demo.json('GET', D(`/snapshots/${snap.body.snapshot.id}`))).status, 404);
  // The quotas follow.
  const usage = async (p: string) => (await admin.json('GET', A(`/os-quota-sets/${p}?usage=True`))).body.quota_set;
  assert.equal((await usage(altProject)).snapshots.in_use, 1);
  // An accepted transfer is gone and cannot be accepted twice.
  assert.equal((await demo.json('GET', D(`/os-volume-transfer/${t.id}`))).status, 404);
  assert.equal((await alt.json('POST', L(`/os-volume-transfer/${t.id}/accept`), { accept: { auth_key: t.auth_key } })).status, 404);
});

test('deleting a transfer makes the volume available again', async () => {
  const vol = await volume();
  const t = await offer(vol, null);
  assert.equal(t.name, null);
  assert.equal((await alt.json('DELETE', L(`/os-volume-transfer/${t.id}`))).status, 404);
  const del = await demo.json('DELETE', D(`/os-volume-transfer/${t.id}`));
  assert.equal(del.status, 202);
  assert.equal(await volumeStatus(demo, D(`/volumes/${vol}`)), 'available');
  assert.equal((await demo.json('GET', D(`/os-volume-transfer/${t.id}`))).status, 404);
  assert.equal((await alt.json('POST', L(`/os-volume-transfer/${t.id}/accept`), { accept: { auth_key: t.auth_key } })).status, 404);
});

test('bad transfer requests are refused and write nothing', async () => {
  const vol = await volume();
  const before = await transferRows();
  for (const [body, status] of [
    [{ transfer: {} }, 400],
    [{ transfer: { volume_id: 'not-a-uuid' } }, 400],
    [{ transfer: { volume_id: vol, name: 5 } }, 400],
    [{ transfer: { volume_id: vol, bogus: true } }, 400],
    [{}, 400],
    [{ transfer: { volume_id: '00000000-0000-0000-0000-000000000000' } }, 404],
  ] as const) {
    const r = await demo.json('POST', D('/os-volume-transfer'), body);
    assert.equal(r.status, status, `${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
  }
  // Someone else's volume cannot be offered.
  assert.equal((await alt.json('POST', L('/os-volume-transfer'), { transfer: { volume_id: vol } })).status, 404);
  assert.equal(await transferRows(), before);
  assert.equal(await volumeStatus(demo, D(`/volumes/${vol}`)), 'available');

  // Only available volumes (and no second offer of the same one).
  const t = await offer(vol);
  const twice = await demo.json('POST', D('/os-volume-transfer'), { transfer: { volume_id: vol } });
  assert.equal(twice.status, 400);
  assert.equal(twice.body.badRequest.message, 'Invalid volume: status must be available');
  for (const body of [{ accept: {} }, { accept: { auth_key: [1] } }, {}, { accept: { auth_key: 'x', more: 1 } }]) {
    assert.equal((await alt.json('POST', L(`/os-volume-transfer/${t.id}/accept`), body)).status, 400, JSON.stringify(body));
  }
  assert.equal(await volumeStatus(demo, D(`/volumes/${vol}`)), 'awaiting-transfer');
  await demo.json('DELETE', D(`/os-volume-transfer/${t.id}`));
});

test('the receiver\'s quota is checked at accept (413), and the offer stays', async () => {
  const vol = await volume(2);
  const t = await offer(vol);
  const q = await admin.json('PUT', A(`/os-quota-sets/${altProject}`), { quota_set: { gigabytes: 1 } });
  assert.equal(q.status, 200);
  const r = await alt.json('POST', L(`/os-volume-transfer/${t.id}/accept`), { accept: { auth_key: t.auth_key } });
  assert.equal(r.status, 413);
  assert.match(r.body.overLimit.message, /exceeds allowed gigabytes quota/);
  assert.equal(await volumeStatus(demo, D(`/volumes/${vol}`)), 'awaiting-transfer');
  await admin.json('DELETE', A(`/os-quota-sets/${altProject}`));
  const ok = await alt.json('POST', L(`/os-volume-transfer/${t.id}/accept`), { accept: { auth_key: t.auth_key } });
  assert.equal(ok.status, 202);
  assert.equal(await volumeStatus(alt, L(`/volumes/${vol}`)), 'available');
});

test('transfer lists: own project, detail, all_tenants for admins, paging', async () => {
  const offers = [await offer(await volume(), 'list-1'), await offer(await volume(), 'list-2')];
  const list = await demo.json('GET', D('/os-volume-transfer'));
  assert.equal(list.status, 200);
  const mine = list.body.transfers.filter((x: any) => offers.some((o) => o.id === x.id));
  assert.equal(mine.length, 2);
  assert.deepEqual(Object.keys(mine[0]).sort(), ['id', 'links', 'name', 'volume_id']);
  const detail = await demo.json('GET', D('/os-volume-transfer/detail'));
  assert.ok(detail.body.transfers.every((x: any) => typeof x.created_at === 'string'));
  assert.equal((await alt.json('GET', L('/os-volume-transfer'))).body.transfers.some((x: any) => offers.some((o) => o.id === x.id)), false);
  assert.equal((await admin.json('GET', A('/os-volume-transfer'))).body.transfers.some((x: any) => x.id === offers[0].id), false);
  assert.ok((await admin.json('GET', A('/os-volume-transfer?all_tenants=1'))).body.transfers.some((x: any) => x.id === offers[0].id));
  const byName = await demo.json('GET', D('/os-volume-transfer?name=list-2'));
  assert.deepEqual(byName.body.transfers.map((x: any) => x.id), [offers[1].id]);
  const page = await demo.json('GET', D('/os-volume-transfer?limit=1'));
  assert.equal(page.body.transfers.length, 1);
  assert.equal(page.body.transfers_links[0].rel, 'next');
  assert.equal((await demo.json('GET', D('/os-volume-transfer?limit=abc'))).status, 400);
  for (const o of offers) await demo.json('DELETE', D(`/os-volume-transfer/${o.id}`));
});
