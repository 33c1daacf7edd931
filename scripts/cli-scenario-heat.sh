#!/usr/bin/env bash
# A three-tier application from a Heat template with the real `openstack` CLI (python3-heatclient):
# network, subnet, router with gateway and interface, security group, a ResourceGroup of web
# servers each with an attached volume (a template resource from a second file), a database
# server with a floating IP, outputs. Created, updated (scale out 2 → 3 and a changed property
# applied in place), then deleted. After each step every service and the vSphere backend must
# show exactly the expected objects: each server's VM by instance uuid on Nova's node with the
# flavor's CPUs, memory and root disk, powered on, one NIC (its port's MAC) on the stack network's
# port group (with its VLAN), its volumes as disks of their size and their VMDKs; after the delete
# none of them is left.
#
# usage: scripts/cli-scenario-heat.sh
#   OS_CLIENT_CONFIG_FILE  clouds.yaml written by `npm start` (default: ./data/clouds.yaml)
#   OS_CLOUD               the admin cloud in it (default: vistack)
#   SCENARIO_TIMEOUT       seconds to wait for a stack (default: 300)
#   VISTACK_DRIVER         the cloud's driver: simulator (default; checked through its admin
#                          endpoint /simulator/inventory) or vsphere (checked through the vCenter
#                          with `vistack vsphere-inventory`, which needs the cloud's
#                          VISTACK_VSPHERE_URL/VISTACK_VSPHERE_CA_FILE or VISTACK_VSPHERE_CONFIG)
set -euo pipefail
. "$(dirname "$0")/lib/backend.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
export OS_CLIENT_CONFIG_FILE=${OS_CLIENT_CONFIG_FILE:-$PWD/data/clouds.yaml}
ADMIN_CLOUD=${OS_CLOUD:-vistack}
unset OS_CLOUD
TIMEOUT=${SCENARIO_TIMEOUT:-300}
[ -r "$OS_CLIENT_CONFIG_FILE" ] || { echo "no clouds.yaml at $OS_CLIENT_CONFIG_FILE (start the cloud first, or set OS_CLIENT_CONFIG_FILE)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/vistack-heat.XXXXXX)
SUFFIX=$(date +%s)-$$
PROJECT=heat-$SUFFIX
USERNAME=heat-user-$SUFFIX
PASSWORD=Heat-$RANDOM-$RANDOM
PUBLIC=heat-public-$SUFFIX
IMAGE=heat-image-$SUFFIX
FLAVOR=heat-small-$SUFFIX
STACK=app$$
STEP=start
STEPS=0
trap 'rc=$?; [ $rc -ne 0 ] && echo "heat scenario FAILED at step: $STEP (exit $rc)" >&2; rm -rf "$WORK"' EXIT

step() { STEP=$*; STEPS=$((STEPS + 1)); echo; echo "==> [$STEPS] $*"; }
admin() { echo "+ openstack $*" >&2; openstack --os-cloud "$ADMIN_CLOUD" "$@"; }
member() { echo "+ openstack (as $USERNAME) $*" >&2; openstack --os-cloud heat-member "$@"; }
fail() { echo "ERROR: $*" >&2; exit 1; }
# has PATTERN: grep that reads all its input: `cmd | grep -q` under pipefail fails at random when
# grep exits before cmd has written everything (SIGPIPE, exit 141).
has() { grep "$@" >/dev/null; }

BASE_URL=$(python3 - "$OS_CLIENT_CONFIG_FILE" "$ADMIN_CLOUD" "$WORK/clouds.yaml" "$PROJECT" "$USERNAME" "$PASSWORD" <<'EOF'
import sys, yaml
src, admin, out, project, user, pw = sys.argv[1:]
doc = yaml.safe_load(open(src))
a = doc['clouds'][admin]
m = {k: v for k, v in a.items() if k != 'auth'}
m['auth'] = dict(a['auth'], username=user, password=pw, project_name=project,
                 user_domain_name='Default', project_domain_name='Default')
doc['clouds']['heat-member'] = m
yaml.safe_dump(doc, open(out, 'w'))
print(a['auth']['auth_url'].rstrip('/').removesuffix('/v3').removesuffix('/identity'))
EOF
)
export OS_CLIENT_CONFIG_FILE=$WORK/clouds.yaml

# check EXPECT...: compares what the services and the backend hold for the project with the
# expectation (see check.py below) and prints both. Every server, volume and network seen is
# recorded in $WORK/seen.json for the check after the stack delete.
check() {
  local admin_token member_token
  admin_token=$(openstack --os-cloud "$ADMIN_CLOUD" token issue -f value -c id)
  member_token=$(openstack --os-cloud heat-member token issue -f value -c id)
  backend_py "$WORK/check.py" "$BASE_URL" "$admin_token" "$member_token" "$PROJECT_ID" "$WORK/seen.json" "$@" || fail "check '$*' failed"
}
cat > "$WORK/check.py" <<'EOF'
# usage: check.py BASE ADMIN_TOKEN MEMBER_TOKEN PROJECT_ID SEEN_FILE servers=N volumes=N networks=N
#        routers=N fips=N [metadata=key:value] — counts in the member's project; every server's VM
#        must be on the backend (by instance uuid, named by it, on the node Nova names) powered on
#        with its flavor's CPUs, memory and root disk size, one NIC with its port's MAC on its
#        network's port group, and exactly its attached volumes as disks of their sizes; every
#        network's port group must carry its VLAN; every volume must have its VMDK.
import json, os, sys, urllib.request
import backend_inventory as bi
base, admin_token, token, project, seen_file, *expect = sys.argv[1:]
def get(path, tok=token):
    return json.load(urllib.request.urlopen(urllib.request.Request(base + path, headers={'X-Auth-Token': tok})))
want = dict(e.split('=', 1) for e in expect)
servers = get('/compute/v2.1/servers/detail')['servers']
vols = get('/volume/v3/%s/volumes/detail' % project)['volumes']
inv = bi.load_or_exit(base)
nets = [n for n in get('/networking/v2.0/networks')['networks'] if not n.get('router:external')]
routers = get('/networking/v2.0/routers')['routers']
fips = get('/networking/v2.0/floatingips')['floatingips']
have = {'servers': len(servers), 'volumes': len(vols), 'networks': len(nets),
        'routers': len(routers), 'fips': len([f for f in fips if f['port_id']])}
ok = True
for k in ('servers', 'volumes', 'networks', 'routers', 'fips'):
    if k in want and int(want[k]) != have[k]:
        ok = False
print('services:', have)
GiB_KB = 1024 * 1024
size_of = {v['id']: v['size'] for v in vols}
flavors = {}
for s in servers:
    vm = bi.vm_by_uuid(inv, s['id'])
    adm = get('/compute/v2.1/servers/%s' % s['id'], admin_token)['server']
    fid = s['flavor']['id']
    if fid not in flavors:
        flavors[fid] = get('/compute/v2.1/flavors/%s' % fid)['flavor']
    fl = flavors[fid]
    ports = get('/networking/v2.0/ports?device_id=%s' % s['id'])['ports']
    att = sorted(a['id'] for a in s.get('os-extended-volumes:volumes_attached', []))
    disks = (vm or {}).get('disks', [])
    vdisks = sorted((d['volumeId'], d['capacityKB']) for d in disks if d['volumeId'])
    roots = [d['capacityKB'] for d in disks if d['kind'] == 'root']
    nics = sorted((n['macAddress'], n['portgroupName']) for n in (vm or {}).get('nics', []))
    want_nics = sorted((p['mac_address'].lower(), 'vistack-net-' + p['network_id']) for p in ports)
    line = '%s %s %s vm=%s node=%s %s nics=%s volumes=%s disks=%s metadata=%s' % (
        s['name'], s['status'], s['id'], vm['name'] if vm else 'NO', vm['nodename'] if vm else '-',
        '%s/%s vCPU/%s MB/root %s GiB' % (vm['powerState'], vm['numCpu'], vm['memoryMB'], [r / GiB_KB for r in roots]) if vm else '',
        nics, att, [(v, kb / GiB_KB) for v, kb in vdisks], s['metadata'])
    good = (vm is not None and s['status'] == 'ACTIVE' and vm['name'] == s['id']
            and vm['nodename'] == adm.get('OS-EXT-SRV-ATTR:hypervisor_hostname')
            and vm['powerState'] == 'poweredOn' and vm['numCpu'] == fl['vcpus'] and vm['memoryMB'] == fl['ram']
            and roots == [fl['disk'] * GiB_KB]
            and vdisks == sorted((v, size_of.get(v, -1) * GiB_KB) for v in att)
            and len(nics) == 1 and nics == want_nics)
    if 'metadata' in want:
        k, v = want['metadata'].split(':', 1)
        good = good and s['metadata'].get(k) == v
    print(('  ' if good else '  MISMATCH ') + line)
    ok = ok and good
pgs = bi.portgroups(inv)
for n in nets:
    net = get('/networking/v2.0/networks/%s' % n['id'], admin_token)['network']
    vlan = net['provider:segmentation_id'] if net.get('provider:network_type') == 'vlan' else 0
    mine = [p['vlanId'] for p in pgs if p['name'] == 'vistack-net-' + n['id']]
    good = mine == [vlan]
    print('%snetwork %s: port group vistack-net-%s VLANs %s (expected [%s])' % ('  ' if good else '  MISMATCH ', n['name'], n['id'], mine, vlan))
    ok = ok and good
for v in vols:
    fs = [f['capacityKb'] for f in inv['files'] if f['path'].endswith('/volume-%s.vmdk' % v['id'])]
    good = fs == [v['size'] * GiB_KB]
    print('%svolume %s (%s GiB, %s): VMDK capacities %s' % ('  ' if good else '  MISMATCH ', v['id'], v['size'], v['status'],
          ['unknown' if kb is None else '%g GiB' % (kb / GiB_KB) for kb in fs]))
    ok = ok and good
seen = json.load(open(seen_file)) if os.path.exists(seen_file) else {'servers': [], 'volumes': [], 'networks': []}
for k, items in (('servers', servers), ('volumes', vols), ('networks', nets)):
    seen[k] = sorted(set(seen[k]) | {x['id'] for x in items})
json.dump(seen, open(seen_file, 'w'))
print('%s: %d Vistack VMs in all' % (inv['backend'], len(inv['vms'])))
sys.exit(0 if ok else 1)
EOF

step "admin creates project $PROJECT, a member user with heat_stack_owner, external network, flavor, image"
PROJECT_ID=$(admin project create --domain Default "$PROJECT" -f value -c id)
admin user create --domain Default --project "$PROJECT" --password "$PASSWORD" "$USERNAME" -f value -c id
admin role add --project "$PROJECT" --user "$USERNAME" member
admin role add --project "$PROJECT" --user "$USERNAME" heat_stack_owner
admin network create --external "$PUBLIC" -f value -c id
admin subnet create --network "$PUBLIC" --subnet-range 198.51.100.0/24 --no-dhcp --gateway 198.51.100.1 "$PUBLIC-subnet" -f value -c id
admin flavor create --vcpus 1 --ram 512 --disk 1 "$FLAVOR" -f value -c id
head -c $((1024 * 1024)) /dev/urandom > "$WORK/image.raw"
admin image create --public --disk-format raw --container-format bare --file "$WORK/image.raw" "$IMAGE" -f value -c id

step "the template validates"
cp "$HERE/heat/three-tier.yaml" "$HERE/heat/web_server.yaml" "$WORK/"
member orchestration template validate -t "$WORK/three-tier.yaml" \
  --parameter image="$IMAGE" --parameter flavor="$FLAVOR" --parameter public_net="$PUBLIC" -f json > "$WORK/validate.json"
grep -q '"web_count"' "$WORK/validate.json" || fail "validate does not list the web_count parameter"

step "stack create $STACK: 2 web servers with volumes, a db server with a floating IP"
member stack create -t "$WORK/three-tier.yaml" --parameter image="$IMAGE" --parameter flavor="$FLAVOR" \
  --parameter public_net="$PUBLIC" --timeout $((TIMEOUT / 60)) --wait "$STACK" -f value -c stack_status
[ "$(member stack show "$STACK" -f value -c stack_status)" = CREATE_COMPLETE ] || fail "stack is not CREATE_COMPLETE"
check servers=3 volumes=2 networks=1 routers=1 fips=1 metadata=release:v1
member stack output show "$STACK" web_names -f value -c output_value | has "$STACK-web-1" || fail "web_names output lacks $STACK-web-1"
member stack output show "$STACK" db_address -f value -c output_value | has "10.60.0.10" || fail "db_address is not 10.60.0.10"
FIP=$(member stack output show "$STACK" db_floating_ip -f value -c output_value)
member server show "$STACK-db" -f value -c addresses | has "$FIP" || fail "db server does not show $FIP"
[ "$(member stack resource list "$STACK" -f value -c resource_status | sort -u)" = CREATE_COMPLETE ] || fail "not every resource is CREATE_COMPLETE"
[ "$(member stack resource list -n 2 "$STACK" -f value -c resource_name | grep -c '^server$')" -eq 2 ] || fail "nested resources: expected 2 web servers"
WEB0=$(member server show "$STACK-web-0" -f value -c id)
DB=$(member server show "$STACK-db" -f value -c id)
NET_ID=$(member stack resource show "$STACK" net -f value -c physical_resource_id)
member network show "$NET_ID" -f value -c name | has -x "$STACK-net" || fail "resource net is not network $STACK-net"

step "stack update: scale the web tier out to 3 and roll release v2 into the servers' metadata"
member stack update --existing --parameter web_count=3 --parameter release=v2 --wait "$STACK" -f value -c stack_status
[ "$(member stack show "$STACK" -f value -c stack_status)" = UPDATE_COMPLETE ] || fail "stack is not UPDATE_COMPLETE"
check servers=4 volumes=3 networks=1 routers=1 fips=1 metadata=release:v2
[ "$(member server show "$STACK-web-0" -f value -c id)" = "$WEB0" ] || fail "web-0 was replaced, not updated in place"
[ "$(member server show "$STACK-db" -f value -c id)" = "$DB" ] || fail "the db server was replaced, not updated in place"
member stack output show "$STACK" web_names -f value -c output_value | has "$STACK-web-2" || fail "web_names output lacks $STACK-web-2"
member stack event list "$STACK" -f value | has "UPDATE_COMPLETE" || fail "no UPDATE_COMPLETE event"

step "stack delete: every server, volume, port group and floating IP goes"
member stack delete --yes --wait "$STACK"
member stack show "$STACK" >/dev/null 2>&1 && fail "the stack is still shown after delete"
check servers=0 volumes=0 networks=0 routers=0 fips=0
backend_py - "$BASE_URL" "$WORK/seen.json" "$NET_ID" <<'EOF' || fail "objects of the stack left on the $BACKEND backend"
import json, sys, backend_inventory as bi
base, seen_file, net = sys.argv[1:]
inv = bi.load_or_exit(base)
seen = json.load(open(seen_file))
assert net in seen['networks'] and len(seen['servers']) == 4 and len(seen['volumes']) == 3, seen
vms = [v['name'] for s in seen['servers'] for v in [bi.vm_by_uuid(inv, s)] if v]
pgs = [p['name'] for p in bi.portgroups(inv) if p['name'] in ['vistack-net-' + n for n in seen['networks']]]
files = [f['path'] for f in inv['files'] if any(f['path'].endswith('/volume-%s.vmdk' % v) for v in seen['volumes'])]
print('%s: of the stack\'s %d servers, %d networks and %d volumes left: VMs %s, port groups %s, VMDKs %s' % (
    inv['backend'], len(seen['servers']), len(seen['networks']), len(seen['volumes']), vms, pgs, files))
sys.exit(1 if vms or pgs or files else 0)
EOF

step "clean up the admin objects"
admin image delete "$IMAGE"
admin network delete "$PUBLIC"
admin flavor delete "$FLAVOR"
admin user delete "$USERNAME"
admin project delete "$PROJECT"

STEP=done
echo
echo "heat scenario: all $STEPS steps passed"
