#!/usr/bin/env bash
# End-to-end scenario with the real `openstack` CLI (python3-openstackclient) against a running
# Vistack: a project and a member user, a 64 MiB image round trip, a flavor, a keypair, a server
# through its lifecycle (reboot, stop, start, resize + confirm, snapshot, delete), with the
# admin checking the VM on the vSphere backend at each step: found by instance uuid, on the cluster
# Nova names as its node, with the power state, CPUs, memory and root disk size expected.
#
# usage: scripts/cli-scenario.sh
#   OS_CLIENT_CONFIG_FILE  clouds.yaml written by `npm start` (default: ./data/clouds.yaml)
#   OS_CLOUD               the admin cloud in it (default: vistack)
#   SCENARIO_TIMEOUT       seconds to wait for a status (default: 120)
#   VISTACK_DRIVER         the cloud's driver: simulator (default; checked through its admin
#                          endpoint /simulator/inventory) or vsphere (checked through the vCenter
#                          with `vistack vsphere-inventory`, which needs the cloud's
#                          VISTACK_VSPHERE_URL/VISTACK_VSPHERE_CA_FILE or VISTACK_VSPHERE_CONFIG)
# Creates everything under unique names and deletes it again; exits non-zero at the first
# failed step, naming it.
set -euo pipefail
. "$(dirname "$0")/lib/backend.sh"

export OS_CLIENT_CONFIG_FILE=${OS_CLIENT_CONFIG_FILE:-$PWD/data/clouds.yaml}
ADMIN_CLOUD=${OS_CLOUD:-vistack}
unset OS_CLOUD   # each command names its cloud
TIMEOUT=${SCENARIO_TIMEOUT:-120}
[ -r "$OS_CLIENT_CONFIG_FILE" ] || { echo "no clouds.yaml at $OS_CLIENT_CONFIG_FILE (start the cloud first, or set OS_CLIENT_CONFIG_FILE)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/vistack-scenario.XXXXXX)
SUFFIX=$(date +%s)-$$
PROJECT=scenario-$SUFFIX
USERNAME=scenario-user-$SUFFIX
PASSWORD=Scenario-$RANDOM-$RANDOM
IMAGE=scenario-image-$SUFFIX
SNAPSHOT=scenario-snapshot-$SUFFIX
FLAVOR=scenario-small-$SUFFIX
FLAVOR_BIG=scenario-medium-$SUFFIX
KEY=scenario-key-$SUFFIX
SERVER=scenario-vm-$SUFFIX
STEP=start
STEPS=0
trap 'rc=$?; [ $rc -ne 0 ] && echo "CLI scenario FAILED at step: $STEP (exit $rc)" >&2; rm -rf "$WORK"' EXIT

step() { STEP=$*; STEPS=$((STEPS + 1)); echo; echo "==> [$STEPS] $*"; }
admin() { echo "+ openstack $*" >&2; openstack --os-cloud "$ADMIN_CLOUD" "$@"; }
member() { echo "+ openstack (as $USERNAME) $*" >&2; openstack --os-cloud scenario-member "$@"; }
fail() { echo "ERROR: $*" >&2; exit 1; }
# has PATTERN: grep that reads all its input: `cmd | grep -q` under pipefail fails at random when
# grep exits before cmd has written everything (SIGPIPE, exit 141).
has() { grep "$@" >/dev/null; }

# wait_status SERVER STATUS: polls `server show` (stop/start have no --wait in this CLI).
wait_status() {
  local deadline=$((SECONDS + TIMEOUT)) s
  while :; do
    s=$(openstack --os-cloud scenario-member server show -f value -c status "$1")
    [ "$s" = "$2" ] && { echo "status $s"; return 0; }
    [ "$s" = ERROR ] && fail "server $1 went to ERROR while waiting for $2"
    [ $SECONDS -ge $deadline ] && fail "server $1 still $s after ${TIMEOUT}s (waiting for $2)"
    sleep 1
  done
}

# expect_vm UUID "powerState numCpu memoryMB rootGiB" | absent: exactly one VM on the backend has
# the instance uuid, is named by it, sits on the cluster the server's hypervisor_hostname names,
# and shows these figures; "absent": no VM has the uuid.
expect_vm() {
  local node=-
  [ "$2" = absent ] || node=$(openstack --os-cloud "$ADMIN_CLOUD" server show -f value -c OS-EXT-SRV-ATTR:hypervisor_hostname "$1")
  backend_py - "$BASE_URL" "$1" "$2" "$node" <<'EOF' || fail "the $BACKEND backend does not show VM $1 as '$2'"
import sys, backend_inventory as bi
base, uuid, want, node = sys.argv[1:]
inv = bi.load_or_exit(base)
vm = bi.vm_by_uuid(inv, uuid)
if vm is None:
    got = 'absent'
else:
    roots = [d for d in vm['disks'] if d['kind'] == 'root']
    root = '%g' % (roots[0]['capacityKB'] / 2**20) if len(roots) == 1 else 'roots=%d' % len(roots)
    got = '%s %s %s %s' % (vm['powerState'], vm['numCpu'], vm['memoryMB'], root)
ok = got == want and (vm is None or (vm['name'] == uuid and vm['nodename'] == node))
print('%s%s: VM %s: %s%s' % (inv['backend'], '' if ok else ' MISMATCH', uuid, got,
      '' if vm is None else ' (name %s, node %s; Nova says node %s)' % (vm['name'], vm['nodename'], node)))
sys.exit(0 if ok else 1)
EOF
}

# A clouds.yaml with the admin cloud plus the member user of the new project.
BASE_URL=$(python3 - "$OS_CLIENT_CONFIG_FILE" "$ADMIN_CLOUD" "$WORK/clouds.yaml" "$PROJECT" "$USERNAME" "$PASSWORD" <<'EOF'
import sys, yaml
src, admin, out, project, user, pw = sys.argv[1:]
doc = yaml.safe_load(open(src))
a = doc['clouds'][admin]
m = {k: v for k, v in a.items() if k != 'auth'}
m['auth'] = dict(a['auth'], username=user, password=pw, project_name=project,
                 user_domain_name='Default', project_domain_name='Default')
doc['clouds']['scenario-member'] = m
yaml.safe_dump(doc, open(out, 'w'))
print(a['auth']['auth_url'].rstrip('/').removesuffix('/v3').removesuffix('/identity'))
EOF
)
export OS_CLIENT_CONFIG_FILE=$WORK/clouds.yaml
echo "cloud at $BASE_URL (admin cloud '$ADMIN_CLOUD', $BACKEND backend); scratch files in $WORK"

step "admin issues a token"
admin token issue -f value -c expires

step "admin creates project $PROJECT and user $USERNAME with the member role"
admin project create --domain Default --description "CLI scenario" "$PROJECT" -f value -c id
admin user create --domain Default --project "$PROJECT" --password "$PASSWORD" "$USERNAME" -f value -c id
admin role add --project "$PROJECT" --user "$USERNAME" member
admin role assignment list --project "$PROJECT" --user "$USERNAME" --names -f value -c Role | has -x member \
  || fail "the member role assignment is not listed"

step "the member issues a token scoped to the project"
member token issue -f value -c project_id

step "the member uploads a 64 MiB image"
head -c $((64 * 1024 * 1024)) /dev/urandom > "$WORK/image.raw"
member image create --disk-format raw --container-format bare --file "$WORK/image.raw" "$IMAGE" -f value -c id
[ "$(member image show -f value -c status "$IMAGE")" = active ] || fail "image is not active"
[ "$(member image show -f value -c size "$IMAGE")" = $((64 * 1024 * 1024)) ] || fail "image size differs"

step "the member downloads the image: byte-identical"
member image save --file "$WORK/image.out" "$IMAGE"
cmp "$WORK/image.raw" "$WORK/image.out"
echo "identical ($(stat -c %s "$WORK/image.out") bytes)"
rm -f "$WORK/image.out"

step "admin creates flavors $FLAVOR and $FLAVOR_BIG"
admin flavor create --vcpus 1 --ram 512 --disk 1 "$FLAVOR" -f value -c id
admin flavor create --vcpus 2 --ram 1024 --disk 2 "$FLAVOR_BIG" -f value -c id

step "the member creates a keypair"
member keypair create "$KEY" > "$WORK/key.pem"
grep -q 'PRIVATE KEY' "$WORK/key.pem" || fail "no private key returned"
member keypair show -f value -c fingerprint "$KEY"

step "the member creates a server and waits for ACTIVE"
# No Neutron yet: microversion 2.37 lets the request say "no network" explicitly.
member --os-compute-api-version 2.37 server create --flavor "$FLAVOR" --image "$IMAGE" --key-name "$KEY" \
  --nic none --wait "$SERVER" -f value -c id
SERVER_ID=$(member server show -f value -c id "$SERVER")
wait_status "$SERVER" ACTIVE
expect_vm "$SERVER_ID" "poweredOn 1 512 1"

step "the member lists servers"
member server list -f value -c ID -c Name -c Status | tee "$WORK/list.txt"
grep -q "^$SERVER_ID $SERVER ACTIVE$" "$WORK/list.txt" || fail "server missing from the list"

step "reboot"
member server reboot --wait "$SERVER"
wait_status "$SERVER" ACTIVE
expect_vm "$SERVER_ID" "poweredOn 1 512 1"

step "stop"
member server stop "$SERVER"
wait_status "$SERVER" SHUTOFF
expect_vm "$SERVER_ID" "poweredOff 1 512 1"

step "start"
member server start "$SERVER"
wait_status "$SERVER" ACTIVE
expect_vm "$SERVER_ID" "poweredOn 1 512 1"

step "resize to $FLAVOR_BIG and confirm"
member server resize --flavor "$FLAVOR_BIG" --wait "$SERVER"
wait_status "$SERVER" VERIFY_RESIZE
member server resize confirm "$SERVER"
wait_status "$SERVER" ACTIVE
[ "$(member server show -f json "$SERVER" | python3 -c 'import json,sys; f=json.load(sys.stdin)["flavor"]; print(f if isinstance(f, str) else f.get("original_name", f.get("name", "")))' | awk '{print $1}')" = "$FLAVOR_BIG" ] \
  || fail "server does not show flavor $FLAVOR_BIG"
expect_vm "$SERVER_ID" "poweredOn 2 1024 2"

step "snapshot the server to an image"
member server image create --name "$SNAPSHOT" --wait "$SERVER" -f value -c id
[ "$(member image show -f value -c status "$SNAPSHOT")" = active ] || fail "snapshot is not active"

step "delete the server"
member server delete --wait "$SERVER"
if member server show "$SERVER" >/dev/null 2>&1; then fail "server still exists"; fi
expect_vm "$SERVER_ID" absent

step "clean up images, keypair, flavors, user and project"
member image delete "$SNAPSHOT" "$IMAGE"
member keypair delete "$KEY"
admin flavor delete "$FLAVOR" "$FLAVOR_BIG"
admin user delete "$USERNAME"
admin project delete "$PROJECT"

STEP=done
echo
echo "CLI scenario: all $STEPS steps passed"
