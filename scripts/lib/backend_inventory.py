"""What the cloud's vSphere backend holds, in one shape whichever backend the cloud runs.

The CLI scenario scripts check the backend after each step. The embedded simulator shows its
inventory at GET <base>/simulator/inventory (admin token); a cloud started with
VISTACK_DRIVER=vsphere has no such endpoint, so its vCenter(s) are read with
`npm run -s vistack -- vsphere-inventory --json --no-database` (src/drivers/vsphere/cli.ts), which
reads the same VISTACK_VSPHERE_* environment (or VISTACK_VSPHERE_CONFIG file) as the cloud.

Either way load() returns the simulator inventory's shape, restricted to what the checks use:

  backend       'simulator' | 'vsphere'
  datacenters   [{name, clusters: [{moref, name, nodename, computeHost}],
                  switches: [{name, portgroups: [{name, vlanId}]}]}]
  vms           [{name, uuid (instance uuid), powerState, cluster (moref), nodename,
                  numCpu, memoryMB,
                  disks: [{key, kind (root|ephemeral|swap|rescue|volume|other), fileName,
                           capacityKB, volumeId}],
                  nics: [{key, macAddress, portgroupName}]}]
  files         [{path, kind, capacityKb (None when the backend does not report it)}]
                 on vsphere: the VMDKs under each datastore's volumes/ folder

`nodename` (the Nova hypervisor_hostname of the VM's cluster) is added on both backends so a
check can compare it with the server's OS-EXT-SRV-ATTR:hypervisor_hostname directly.

Usage as a command: backend_inventory.py BASE_URL  (admin token in VISTACK_ADMIN_TOKEN; needed
on the simulator only) prints the JSON. VISTACK_DRIVER chooses the backend (default simulator).
"""
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class BackendError(Exception):
    pass


def driver():
    d = os.environ.get('VISTACK_DRIVER', '') or 'simulator'
    if d not in ('simulator', 'vsphere'):
        raise BackendError('VISTACK_DRIVER=%s: the scenario checks know "simulator" and "vsphere"' % d)
    return d


def load(base_url, admin_token=None):
    return _vsphere() if driver() == 'vsphere' else _simulator(base_url, admin_token)


# ---- the embedded simulator -----------------------------------------------------------------

def _simulator(base_url, token):
    if not token:
        raise BackendError('the simulator inventory needs an admin token')
    req = urllib.request.Request(base_url.rstrip('/') + '/simulator/inventory', headers={'X-Auth-Token': token})
    try:
        raw = json.load(urllib.request.urlopen(req, timeout=60))
    except urllib.error.HTTPError as e:
        if e.code == 404:
            raise BackendError('the cloud has no /simulator/inventory: it does not run the simulator driver. '
                               'If it runs VISTACK_DRIVER=vsphere, set VISTACK_DRIVER=vsphere (and the same '
                               'VISTACK_VSPHERE_* variables) for this script too')
        raise BackendError('GET /simulator/inventory: HTTP %d %s' % (e.code, e.read()[:300]))
    nodename = {c['moref']: c['nodename'] for dc in raw['datacenters'] for c in dc['clusters']}
    return {
        'backend': 'simulator',
        'datacenters': [{
            'name': dc['name'],
            'clusters': [{k: c[k] for k in ('moref', 'name', 'nodename', 'computeHost')} for c in dc['clusters']],
            'switches': [{'name': s['name'], 'portgroups': [{'name': p['name'], 'vlanId': p['vlanId']} for p in s['portgroups']]}
                         for s in dc['switches']],
        } for dc in raw['datacenters']],
        'vms': [{
            # The simulator names each VM by its instance uuid and keeps no other uuid.
            'name': v['name'], 'uuid': v['name'], 'powerState': v['powerState'],
            'cluster': v['cluster'], 'nodename': nodename.get(v['cluster']),
            'numCpu': v['numCpu'], 'memoryMB': v['memoryMB'],
            'disks': [{'key': d['key'], 'kind': d['kind'], 'fileName': d['fileName'], 'capacityKB': d['capacityKB'],
                       'volumeId': d.get('volumeId')} for d in v['disks']],
            'nics': [{'key': n['key'], 'macAddress': n['macAddress'].lower(), 'portgroupName': n['portgroupName']} for n in v['nics']],
        } for v in raw['vms']],
        'files': [{'path': f['path'], 'kind': f['kind'], 'capacityKb': f['capacityKb']} for f in raw['files']],
    }


# ---- a vCenter through the vsphere driver's admin command -------------------------------------

def _vsphere():
    cmd = ['npm', 'run', '-s', 'vistack', '--', 'vsphere-inventory', '--json', '--no-database']
    try:
        p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BackendError('%s: %s' % (' '.join(cmd), e))
    try:
        report = json.loads(p.stdout)
    except ValueError:
        raise BackendError('%s failed (exit %d): %s' % (' '.join(cmd), p.returncode, (p.stderr or p.stdout).strip()[-2000:]))
    bad = [v for v in report['vcenters'] if v.get('error')]
    if bad or p.returncode != 0:
        raise BackendError('vsphere-inventory could not read %s' % '; '.join(
            '%s: %s' % (v['name'], v.get('error')) for v in bad) if bad else 'vsphere-inventory exited %d' % p.returncode)
    out = {'backend': 'vsphere', 'datacenters': [], 'vms': [], 'files': []}
    for vc in report['vcenters']:
        by_name = {c['name']: c for c in vc['clusters']}
        out['datacenters'].append({
            'name': vc['datacenter']['name'], 'vcenter': vc['name'],
            'clusters': [{k: c[k] for k in ('moref', 'name', 'nodename', 'computeHost')} for c in vc['clusters']],
            # Only Vistack's port groups (vistack-net-*) are reported; the checks look at no others.
            'switches': [{'name': s['name'], 'portgroups': [{'name': p['name'], 'vlanId': p['vlanId']} for p in s['portgroups']]}
                         for s in vc['switches']],
        })
        for v in vc['vms']:
            cl = by_name.get(v['cluster'])
            out['vms'].append({
                'name': v['name'], 'uuid': v['uuid'], 'powerState': v['powerState'],
                'cluster': cl['moref'] if cl else None, 'nodename': cl['nodename'] if cl else None,
                'numCpu': v['numCpu'], 'memoryMB': v['memoryMb'],
                'disks': [{'key': d['key'], 'kind': d['role'], 'fileName': d['file'], 'capacityKB': d['capacityBytes'] // 1024,
                           'volumeId': d['volumeId']} for d in v['disks']],
                'nics': [{'key': n['key'], 'macAddress': n['macAddress'].lower(), 'portgroupName': n['portGroup']} for n in v['nics']],
            })
        for f in vc['volumes']:
            cap = f['capacityBytes']
            out['files'].append({'path': f['path'], 'kind': 'volume', 'capacityKb': None if cap is None else cap // 1024})
    return out


def load_or_exit(base_url):
    """load() with the admin token from VISTACK_ADMIN_TOKEN (scripts/lib/backend.sh sets it); a
    backend that cannot be read ends the check with exit 2 and the reason."""
    try:
        return load(base_url, os.environ.get('VISTACK_ADMIN_TOKEN'))
    except BackendError as e:
        print('backend inventory: %s' % e, file=sys.stderr)
        sys.exit(2)


# ---- small helpers the checks share ------------------------------------------------------------

def unreported_size_accepted():
    """vcsim keeps no capacity for a VMDK that no VM has attached (its disk files are empty
    placeholders and its datastore browser reports no capacityKb), so on vcsim the size of a
    detached volume cannot be read back. SCENARIO_UNREPORTED_SIZES=accept lets such a size check
    pass with a warning; by default it fails. A size the backend does report must always match."""
    return os.environ.get('SCENARIO_UNREPORTED_SIZES', '') == 'accept'


def portgroups(inv):
    return [p for dc in inv['datacenters'] for s in dc['switches'] for p in s['portgroups']]


def vm_by_uuid(inv, uuid):
    """The VM whose instance uuid is uuid (case-insensitive), or None; more than one is an error."""
    hits = [v for v in inv['vms'] if v['uuid'].lower() == uuid.lower()]
    if len(hits) > 1:
        raise BackendError('%d VMs have instance uuid %s' % (len(hits), uuid))
    return hits[0] if hits else None


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit('usage: backend_inventory.py BASE_URL   (VISTACK_ADMIN_TOKEN for the simulator; VISTACK_DRIVER)')
    json.dump(load_or_exit(sys.argv[1]), sys.stdout, indent=1)
    print()
