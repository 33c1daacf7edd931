#!/usr/bin/env bash
# End-to-end tenant topology with the real `openstack` CLI (python3-openstackclient) against a
# running Vistack: an external network (admin), then as a project member a network, subnet,
# router with gateway and interface, security group with rules, two servers on the network, a
# floating IP on one, a 20 GiB thin volume from an image attached, detached, snapshotted,
# extended and deleted, and a server booted from a volume. After each step the vSphere backend
# must show the matching port groups (with their VLAN), VMs (by instance uuid, on Nova's node, with
# CPUs, memory, power state and disk sizes), NICs on their network's port group, and volume VMDKs.
#
# usage: scripts/cli-scenario-network-volume.sh
#   OS_CLIENT_CONFIG_FILE  clouds.yaml written by `npm start` (default: ./data/clouds.yaml)
#   OS_CLOUD               the admin cloud in it (default: vistack)
#   SCENARIO_TIMEOUT       seconds to wait for a status (default: 120)
#   VISTACK_DRIVER         the cloud's driver: simulator (default; checked through its admin
#                          endpoint /simulator/inventory) or vsphere (checked through the vCenter
#                          with `vistack vsphere-inventory`, which needs the cloud's
#                          VISTACK_VSPHERE_URL/VISTACK_VSPHERE_CA_FILE or VISTACK_VSPHERE_CONFIG)
#   SCENARIO_UNREPORTED_SIZES  "accept": a detached volume VMDK whose capacity the backend does not
#                          report (vcsim keeps none) passes its size check with a warning; by
#                          default such a check fails. Reported sizes must match either way.
# Everything is created under unique names and deleted again; exits non-zero at the first
# failed step, naming it.
set -euo pipefail
. "$(dirname "$0")/lib/backend.sh"

export OS_CLIENT_CONFIG_FILE=${OS_CLIENT_CONFIG_FILE:-$PWD/data/clouds.yaml}
ADMIN_CLOUD=${OS_CLOUD:-vistack}
unset OS_CLOUD
TIMEOUT=${SCENARIO_TIMEOUT:-120}
[ -r "$OS_CLIENT_CONFIG_FILE" ] || { echo "no clouds.yaml at $OS_CLIENT_CONFIG_FILE (start the cloud first, or set OS_CLIENT_CONFIG_FILE)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/vistack-netvol.XXXXXX)
SUFFIX=$(date +%s)-$$
PROJECT=netvol-$SUFFIX
USERNAME=netvol-user-$SUFFIX
PASSWORD=Netvol-$RANDOM-$RANDOM
PUBLIC=netvol-public-$SUFFIX
NET=netvol-net-$SUFFIX
SUBNET=netvol-subnet-$SUFFIX
ROUTER=netvol-router-$SUFFIX
SG=netvol-web-$SUFFIX
IMAGE=netvol-image-$SUFFIX
FLAVOR=netvol-small-$SUFFIX
VTYPE=netvol-thin-$SUFFIX
VOLUME=netvol-data-$SUFFIX
SNAP=netvol-snap-$SUFFIX
BOOTVOL=netvol-boot-$SUFFIX
VM1=netvol-vm1-$SUFFIX
VM2=netvol-vm2-$SUFFIX
VM3=netvol-bfv-$SUFFIX
STEP=start
STEPS=0
trap 'rc=$?; [ $rc -ne 0 ] && echo "network/volume scenario FAILED at step: $STEP (exit $rc)" >&2; rm -rf "$WORK"' EXIT

step() { STEP=$*; STEPS=$((STEPS + 1)); echo; echo "==> [$STEPS] $*"; }
admin() { echo "+ openstack $*" >&2; openstack --os-cloud "$ADMIN_CLOUD" "$@"; }
member() { echo "+ openstack (as $USERNAME) $*" >&2; openstack --os-cloud netvol-member "$@"; }
fail() { echo "ERROR: $*" >&2; exit 1; }
# has PATTERN: grep that reads all its input: `cmd | grep -q` under pipefail fails at random when
# grep exits before cmd has written everything (SIGPIPE, exit 141).
has() { grep "$@" >/dev/null; }

# wait_for KIND NAME STATUS: polls `<kind> show -c status` until STATUS (error states fail).
wait_for() {
  local deadline=$((SECONDS + TIMEOUT)) s
  while :; do
    s=$(openstack --os-cloud netvol-member "$1" show -f value -c status "$2")
    [ "$s" = "$3" ] && { echo "$1 $2: $s"; return 0; }
    case "$s" in ERROR|error|error_deleting|error_extending) fail "$1 $2 went to $s while waiting for $3" ;; esac
    [ $SECONDS -ge $deadline ] && fail "$1 $2 still $s after ${TIMEOUT}s (waiting for $3)"
    sleep 1
  done
}

# wait_gone KIND NAME: polls until `<kind> show` fails.
wait_gone() {
  local deadline=$((SECONDS + TIMEOUT))
  while openstack --os-cloud netvol-member "$1" show "$2" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && fail "$1 $2 still exists after ${TIMEOUT}s"
    sleep 1
  done
}

# sim CHECK ARGS...: runs a check over the backend's inventory (see backend_check.py below; the
# same checks on the simulator and on vsphere); prints what it found, fails the step when the
# check does.
sim() {
  backend_py "$WORK/backend_check.py" "$BASE_URL" "$@" || fail "$BACKEND check '$*' failed"
}
# vlan_of NETWORK: the VLAN its port group must carry (the segmentation id of a VLAN network, else 0).
vlan_of() {
  openstack --os-cloud "$ADMIN_CLOUD" network show -f json "$1" | python3 -c '
import json, sys
n = json.load(sys.stdin)
print(n["provider:segmentation_id"] if n.get("provider:network_type") == "vlan" else 0)'
}
# node_of SERVER: the node (cluster) Nova says the server is on.
node_of() { openstack --os-cloud "$ADMIN_CLOUD" server show -f value -c OS-EXT-SRV-ATTR:hypervisor_hostname "$1"; }
cat > "$WORK/backend_check.py" <<'EOF'
import sys, backend_inventory as bi
base, check, *args = sys.argv[1:]
inv = bi.load_or_exit(base)
vms = inv['vms']
GiB_KB = 1024 * 1024
def out(ok, msg):
    print(inv['backend'] + (': ' if ok else ' MISMATCH: ') + msg)
    sys.exit(0 if ok else 1)
def vm_of(uuid):
    return bi.vm_by_uuid(inv, uuid)
def gib(kb):
    return 'unknown' if kb is None else '%g' % (kb / GiB_KB)
def disks_of(vm):
    return [(d['kind'], d['fileName'], gib(d['capacityKB']) + ' GiB') for d in (vm or {}).get('disks', [])]
def pgs_named(name):
    return [p for p in bi.portgroups(inv) if p['name'] == name]
if check == 'portgroup':            # portgroup NETWORK_ID VLAN|absent: exactly one port group, with that VLAN
    net, want = args
    pgs = pgs_named('vistack-net-' + net)
    got = 'absent' if not pgs else ' '.join(str(p['vlanId']) for p in pgs)
    out(got == want, 'port group vistack-net-%s: %s' % (net, 'absent' if not pgs else 'vlan ' + got))
if check == 'vm':                   # vm VM_UUID absent | vm VM_UUID POWER CPUS MEMORY_MB ROOT_GB|none NODE
    uuid, *want = args
    vm = vm_of(uuid)
    if want == ['absent']:
        out(vm is None, 'VM %s %s' % (uuid, 'absent' if vm is None else 'present'))
    power, cpus, mem, root, node = want
    if vm is None:
        out(False, 'VM %s absent' % uuid)
    roots = [gib(d['capacityKB']) for d in vm['disks'] if d['kind'] == 'root']
    got = (vm['name'], vm['powerState'], str(vm['numCpu']), str(vm['memoryMB']), ','.join(roots) or 'none', vm['nodename'])
    out(got == (uuid, power, cpus, mem, root, node), 'VM %s: name %s, %s, %s vCPU, %s MB, root disk (GiB) %s, node %s' % ((uuid,) + got))
if check == 'nics':                 # nics VM_UUID NETWORK_ID MAC...: exactly these MACs, each on the network's port group
    uuid, net, *macs = args
    vm = vm_of(uuid)
    have = sorted((n['macAddress'], n['portgroupName']) for n in (vm or {}).get('nics', []))
    out(vm is not None and have == sorted((m.lower(), 'vistack-net-' + net) for m in macs),
        'VM %s NICs %s' % (uuid, have))
if check == 'volume-file':          # volume-file VOLUME_ID SIZE_GB|absent: exactly one VMDK for the volume
    vol, want = args
    fs = [f for f in inv['files'] if f['path'].endswith('/volume-%s.vmdk' % vol)]
    got = 'absent' if not fs else ' '.join(gib(f['capacityKb']) for f in fs)
    msg = 'volume %s VMDK: %s' % (vol, '; '.join('%s %s GiB' % (f['path'], gib(f['capacityKb'])) for f in fs) or 'absent')
    if got == 'unknown' and want != 'absent' and bi.unreported_size_accepted():
        out(True, msg + ' (capacity NOT CHECKED: the backend does not report it; SCENARIO_UNREPORTED_SIZES=accept)')
    out(got == want, msg)
if check == 'disk':                 # disk VM_UUID VOLUME_ID SIZE_GB|detached: the volume is one disk of the VM, of that size
    uuid, vol, want = args
    vm = vm_of(uuid)
    on = [gib(d['capacityKB']) for d in (vm or {}).get('disks', []) if d['volumeId'] == vol]
    out(vm is not None and ' '.join(on or ['detached']) == want, 'VM %s disks %s' % (uuid, disks_of(vm)))
if check == 'boot-volume':          # boot-volume VM_UUID VOLUME_ID SIZE_GB: no root disk, the volume is its only disk
    uuid, vol, size = args
    vm = vm_of(uuid)
    disks = (vm or {}).get('disks', [])
    out(len(disks) == 1 and disks[0]['volumeId'] == vol and disks[0]['kind'] == 'volume' and gib(disks[0]['capacityKB']) == size,
        'VM %s disks %s' % (uuid, disks_of(vm)))
if check == 'file-exists':          # file-exists SUBSTRING present|absent
    sub, want = args
    hit = [f['path'] for f in inv['files'] if sub in f['path']]
    out(bool(hit) == (want == 'present'), 'files matching %s: %s' % (sub, hit))
raise SystemExit('unknown check ' + check)
EOF

BASE_URL=$(python3 - "$OS_CLIENT_CONFIG_FILE" "$ADMIN_CLOUD" "$WORK/clouds.yaml" "$PROJECT" "$USERNAME" "$PASSWORD" <<'EOF'
import sys, yaml
src, admin, out, project, user, pw = sys.argv[1:]
doc = yaml.safe_load(open(src))
a = doc['clouds'][admin]
m = {k: v for k, v in a.items() if k != 'auth'}
m['auth'] = dict(a['auth'], username=user, password=pw, project_name=project,
                 user_domain_name='Default', project_domain_name='Default')
doc['clouds']['netvol-member'] = m
yaml.safe_dump(doc, open(out, 'w'))
print(a['auth']['auth_url'].rstrip('/').removesuffix('/v3').removesuffix('/identity'))
EOF
)
export OS_CLIENT_CONFIG_FILE=$WORK/clouds.yaml
echo "cloud at $BASE_URL (admin cloud '$ADMIN_CLOUD', $BACKEND backend); scratch files in $WORK"
field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[sys.argv[1]])' "$1"; }

step "admin creates project $PROJECT, member user, external network $PUBLIC, flavor and volume type"
admin project create --domain Default "$PROJECT" -f value -c id
admin user create --domain Default --project "$PROJECT" --password "$PASSWORD" "$USERNAME" -f value -c id
admin role add --project "$PROJECT" --user "$USERNAME" member
PUBLIC_ID=$(admin network create --external --provider-network-type flat --provider-physical-network public "$PUBLIC" -f value -c id)
admin subnet create --network "$PUBLIC" --subnet-range 203.0.113.0/24 --no-dhcp --gateway 203.0.113.1 "$PUBLIC-subnet" -f value -c id
sim portgroup "$PUBLIC_ID" "$(vlan_of "$PUBLIC_ID")"
admin flavor create --vcpus 1 --ram 512 --disk 1 "$FLAVOR" -f value -c id
admin volume type create --property vmware:vmdk_type=thin "$VTYPE" -f value -c id

step "the member uploads a 1 MiB image"
head -c $((1024 * 1024)) /dev/urandom > "$WORK/image.raw"
member image create --disk-format raw --container-format bare --file "$WORK/image.raw" "$IMAGE" -f value -c id

step "the member creates network $NET and subnet $SUBNET: a port group appears"
NET_ID=$(member network create "$NET" -f value -c id)
member subnet create --network "$NET" --subnet-range 10.20.0.0/24 --dns-nameserver 10.20.0.2 "$SUBNET" -f value -c id
sim portgroup "$NET_ID" "$(vlan_of "$NET_ID")"

step "router $ROUTER with a gateway on $PUBLIC and an interface on $SUBNET"
member router create "$ROUTER" -f value -c id
member router set --external-gateway "$PUBLIC" "$ROUTER"
member router add subnet "$ROUTER" "$SUBNET"
member router show "$ROUTER" -f json -c external_gateway_info | has "$PUBLIC_ID" || fail "router has no gateway on $PUBLIC"
member port list --router "$ROUTER" -f value -c fixed_ips | has "10.20.0.1'" || fail "no router interface at 10.20.0.1"

step "security group $SG with SSH and ICMP rules"
member security group create "$SG" -f value -c id
member security group rule create --ingress --protocol tcp --dst-port 22 --remote-ip 0.0.0.0/0 "$SG" -f value -c id
member security group rule create --ingress --protocol icmp "$SG" -f value -c id
[ "$(member security group rule list "$SG" -f value -c ID | wc -l)" -eq 4 ] || fail "expected 2 default egress + 2 ingress rules"

step "two servers on $NET with $SG"
member server create --flavor "$FLAVOR" --image "$IMAGE" --network "$NET" --security-group "$SG" --wait "$VM1" -f value -c id
member server create --flavor "$FLAVOR" --image "$IMAGE" --nic net-id="$NET_ID",v4-fixed-ip=10.20.0.50 --security-group "$SG" --wait "$VM2" -f value -c id
VM1_ID=$(member server show -f value -c id "$VM1"); VM2_ID=$(member server show -f value -c id "$VM2")
member server show -f value -c addresses "$VM2" | has "10.20.0.50" || fail "$VM2 does not show 10.20.0.50"
member server show -f value -c addresses "$VM1" | has "10.20.0." || fail "$VM1 has no address on $NET"
member server show -f value -c security_groups "$VM1" | has "$SG" || fail "$VM1 is not in $SG"
for vm in "$VM1_ID" "$VM2_ID"; do
  sim vm "$vm" poweredOn 1 512 1 "$(node_of "$vm")"
  # shellcheck disable=SC2046 # one argument per MAC
  sim nics "$vm" "$NET_ID" $(member port list --server "$vm" -f value -c 'MAC Address')
done

step "a floating IP from $PUBLIC on $VM1"
FIP=$(member floating ip create "$PUBLIC" -f value -c floating_ip_address)
member server add floating ip "$VM1" "$FIP"
deadline=$((SECONDS + TIMEOUT))
until member server show -f value -c addresses "$VM1" | has "$FIP"; do
  [ $SECONDS -ge $deadline ] && fail "$VM1 does not show floating IP $FIP"; sleep 1
done
echo "$VM1 shows $FIP"

step "a 20 GiB thin volume from the image"
VOL_ID=$(member volume create --size 20 --image "$IMAGE" --type "$VTYPE" "$VOLUME" -f value -c id)
wait_for volume "$VOLUME" available
sim volume-file "$VOL_ID" 20

step "attach it to $VM1, then detach it"
member server add volume "$VM1" "$VOLUME"
wait_for volume "$VOLUME" in-use
sim disk "$VM1_ID" "$VOL_ID" 20
member server volume list "$VM1" -f value -c 'Volume ID' | has -x "$VOL_ID" || fail "attachment not listed on $VM1"
member server remove volume "$VM1" "$VOLUME"
wait_for volume "$VOLUME" available
sim disk "$VM1_ID" "$VOL_ID" detached
sim volume-file "$VOL_ID" 20

step "snapshot it, extend it to 25 GiB"
SNAP_ID=$(member volume snapshot create --volume "$VOLUME" "$SNAP" -f value -c id)
wait_for "volume snapshot" "$SNAP" available
sim file-exists "snapshot-$SNAP_ID" present
member volume set --size 25 "$VOLUME"
wait_for volume "$VOLUME" available
[ "$(member volume show -f value -c size "$VOLUME")" = 25 ] || fail "volume size is not 25"
sim volume-file "$VOL_ID" 25

step "delete the snapshot and the volume: their VMDKs go"
member volume snapshot delete "$SNAP"
wait_gone "volume snapshot" "$SNAP"
sim file-exists "snapshot-$SNAP_ID" absent
member volume delete "$VOLUME"
wait_gone volume "$VOLUME"
sim volume-file "$VOL_ID" absent

step "a server booted from a volume"
BOOT_ID=$(member volume create --size 2 --image "$IMAGE" --bootable "$BOOTVOL" -f value -c id)
wait_for volume "$BOOTVOL" available
member server create --flavor "$FLAVOR" --volume "$BOOTVOL" --network "$NET" --wait "$VM3" -f value -c id
VM3_ID=$(member server show -f value -c id "$VM3")
wait_for volume "$BOOTVOL" in-use
sim vm "$VM3_ID" poweredOn 1 512 none "$(node_of "$VM3_ID")"
sim boot-volume "$VM3_ID" "$BOOT_ID" 2
# shellcheck disable=SC2046
sim nics "$VM3_ID" "$NET_ID" $(member port list --server "$VM3_ID" -f value -c 'MAC Address')

step "delete the servers: VMs and their ports go, the boot volume stays"
member server delete --wait "$VM1" "$VM2" "$VM3"
for vm in "$VM1_ID" "$VM2_ID" "$VM3_ID"; do sim vm "$vm" absent; done
[ -z "$(member port list --network "$NET" --device-owner compute:nova -f value -c ID)" ] || fail "server ports left on $NET"
wait_for volume "$BOOTVOL" available
sim volume-file "$BOOT_ID" 2
member volume delete "$BOOTVOL"
wait_gone volume "$BOOTVOL"
sim volume-file "$BOOT_ID" absent

step "tear down the topology: the port group goes with the network"
member floating ip delete "$FIP"
member router remove subnet "$ROUTER" "$SUBNET"
member router unset --external-gateway "$ROUTER"
member router delete "$ROUTER"
member security group delete "$SG"
member network delete "$NET"
sim portgroup "$NET_ID" absent
member image delete "$IMAGE"
admin network delete "$PUBLIC"
sim portgroup "$PUBLIC_ID" absent
admin volume type delete "$VTYPE"
admin flavor delete "$FLAVOR"
admin user delete "$USERNAME"
admin project delete "$PROJECT"

STEP=done
echo
echo "network/volume scenario: all $STEPS steps passed"
