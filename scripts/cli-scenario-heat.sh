#!/usr/bin/env bash
# A three-tier application from a Heat template with the real `openstack` CLI (python3-heatclient):
# network, subnet, router with gateway and interface, security group, a ResourceGroup of web
# servers each with an attached volume (a template resource from a second file), a database
# server with a floating IP, outputs. Created, updated (scale out 2 → 3 and a changed property
# applied in place), then deleted. After each step every service and the embedded vSphere
# simulator must show exactly the expected objects.
#
# usage: scripts/cli-scenario-heat.sh
#   OS_CLIENT_CONFIG_FILE  clouds.yaml written by `npm start` (default: ./data/clouds.yaml)
#   OS_CLOUD               the admin cloud in it (default: vistack)
#   SCENARIO_TIMEOUT       seconds to wait for a stack (default: 300)
set -euo pipefail

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

# check EXPECT...: compares what the services and the simulator hold for the project with the
# expectation (see check.py below) and prints both.
check() {
  local admin_token member_token
  admin_token=$(openstack --os-cloud "$ADMIN_CLOUD" token issue -f value -c id)
  member_token=$(openstack --os-cloud heat-member token issue -f value -c id)
  python3 "$WORK/check.py" "$BASE_URL" "$admin_token" "$member_token" "$PROJECT_ID" "$@" || fail "check '$*' failed"
}
cat > "$WORK/check.py" <<'EOF'
# usage: check.py BASE ADMIN_TOKEN MEMBER_TOKEN PROJECT_ID servers=N volumes=N networks=N routers=N fips=N
#        [metadata=key:value] — counts in the member's project; every server's VM must exist in
#        the simulator with one NIC on a Vistack port group and its volumes attached as disks.
import json, sys, urllib.request
base, admin_token, token, project, *expect = sys.argv[1:]
def get(path, tok=token):
    return json.load(urllib.request.urlopen(urllib.request.Request(base + path, headers={'X-Auth-Token': tok})))
want = dict(e.split('=', 1) for e in expect)
servers = get('/compute/v2.1/servers/detail')['servers']
vols = get('/volume/v3/%s/volumes/detail' % project)
inv = get('/simulator/inventory', admin_token)
vms = {v['name']: v for v in inv['vms']}
nets = [n for n in get('/networking/v2.0/networks')['networks'] if not n.get('router:external')]
routers = get('/networking/v2.0/routers')['routers']
fips = get('/networking/v2.0/floatingips')['floatingips']
have = {'servers': len(servers), 'volumes': len(vols['volumes']), 'networks': len(nets),
        'routers': len(routers), 'fips': len([f for f in fips if f['port_id']])}
ok = True
for k in ('servers', 'volumes', 'networks', 'routers', 'fips'):
    if k in want and int(want[k]) != have[k]:
        ok = False
print('services:', have)
for s in servers:
    vm = vms.get(s['id'])
    att = sorted(a['id'] for a in s.get('os-extended-volumes:volumes_attached', []))
    disks = sorted(d['volumeId'] for d in (vm or {}).get('disks', []) if d.get('volumeId'))
    nics = [n['portgroupName'] for n in (vm or {}).get('nics', [])]
    line = '%s %s %s vm=%s nics=%s volumes=%s disks=%s metadata=%s' % (
        s['name'], s['status'], s['id'], 'yes' if vm else 'NO', nics, att, disks, s['metadata'])
    good = vm is not None and s['status'] == 'ACTIVE' and att == disks and len(nics) == 1 and nics[0].startswith('vistack-net-')
    if 'metadata' in want:
        k, v = want['metadata'].split(':', 1)
        good = good and s['metadata'].get(k) == v
    print(('  ' if good else '  MISMATCH ') + line)
    ok = ok and good
print('simulator: %d VMs in all' % len(vms))
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
member stack output show "$STACK" web_names -f value -c output_value | grep -q "$STACK-web-1" || fail "web_names output lacks $STACK-web-1"
member stack output show "$STACK" db_address -f value -c output_value | grep -q "10.60.0.10" || fail "db_address is not 10.60.0.10"
FIP=$(member stack output show "$STACK" db_floating_ip -f value -c output_value)
member server show "$STACK-db" -f value -c addresses | grep -q "$FIP" || fail "db server does not show $FIP"
[ "$(member stack resource list "$STACK" -f value -c resource_status | sort -u)" = CREATE_COMPLETE ] || fail "not every resource is CREATE_COMPLETE"
[ "$(member stack resource list -n 2 "$STACK" -f value -c resource_name | grep -c '^server$')" -eq 2 ] || fail "nested resources: expected 2 web servers"
WEB0=$(member server show "$STACK-web-0" -f value -c id)
DB=$(member server show "$STACK-db" -f value -c id)
NET_ID=$(member stack resource show "$STACK" net -f value -c physical_resource_id)
member network show "$NET_ID" -f value -c name | grep -qx "$STACK-net" || fail "resource net is not network $STACK-net"

step "stack update: scale the web tier out to 3 and roll release v2 into the servers' metadata"
member stack update --existing --parameter web_count=3 --parameter release=v2 --wait "$STACK" -f value -c stack_status
[ "$(member stack show "$STACK" -f value -c stack_status)" = UPDATE_COMPLETE ] || fail "stack is not UPDATE_COMPLETE"
check servers=4 volumes=3 networks=1 routers=1 fips=1 metadata=release:v2
[ "$(member server show "$STACK-web-0" -f value -c id)" = "$WEB0" ] || fail "web-0 was replaced, not updated in place"
[ "$(member server show "$STACK-db" -f value -c id)" = "$DB" ] || fail "the db server was replaced, not updated in place"
member stack output show "$STACK" web_names -f value -c output_value | grep -q "$STACK-web-2" || fail "web_names output lacks $STACK-web-2"
member stack event list "$STACK" -f value | grep -q "UPDATE_COMPLETE" || fail "no UPDATE_COMPLETE event"

step "stack delete: every server, volume, port group and floating IP goes"
member stack delete --yes --wait "$STACK"
member stack show "$STACK" >/dev/null 2>&1 && fail "the stack is still shown after delete"
check servers=0 volumes=0 networks=0 routers=0 fips=0
python3 - "$BASE_URL" "$(openstack --os-cloud "$ADMIN_CLOUD" token issue -f value -c id)" "$NET_ID" "$WEB0" "$DB" <<'EOF' || fail "objects left in the simulator"
import json, sys, urllib.request
base, tok, net, *gone = sys.argv[1:]
inv = json.load(urllib.request.urlopen(urllib.request.Request(base + '/simulator/inventory', headers={'X-Auth-Token': tok})))
left = [v['name'] for v in inv['vms'] if v['name'] in gone]
pgs = [p['name'] for dc in inv['datacenters'] for s in dc['switches'] for p in s['portgroups'] if p['name'] == 'vistack-net-' + net]
print('simulator: VMs of the deleted servers left:', left, '; port group of the stack network left:', pgs)
sys.exit(1 if left or pgs else 0)
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
