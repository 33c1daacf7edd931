# Sourced by the CLI scenario scripts: which vSphere backend the cloud runs, and how to read it.
#
#   VISTACK_DRIVER   the cloud's driver, as given to `npm start`: simulator (default) or vsphere.
#                    With vsphere the scripts read the vCenter(s) with the cloud's own
#                    VISTACK_VSPHERE_URL / VISTACK_VSPHERE_CA_FILE / ... (or VISTACK_VSPHERE_CONFIG),
#                    which must be set for the script as they are for the cloud.
#
# backend_py ARGS...  runs python3 ARGS with scripts/lib on the path (import backend_inventory)
#                     and, on the simulator, an admin token in VISTACK_ADMIN_TOKEN. Callers set
#                     ADMIN_CLOUD and BASE_URL first.
BACKEND_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BACKEND=${VISTACK_DRIVER:-simulator}
case "$BACKEND" in
  simulator) ;;
  vsphere)
    [ -n "${VISTACK_VSPHERE_URL:-}${VISTACK_VSPHERE_CONFIG:-}" ] \
      || { echo "VISTACK_DRIVER=vsphere: set VISTACK_VSPHERE_URL (and VISTACK_VSPHERE_CA_FILE) or VISTACK_VSPHERE_CONFIG as for the cloud" >&2; exit 2; } ;;
  *) echo "VISTACK_DRIVER=$BACKEND: the scenario checks know simulator and vsphere" >&2; exit 2 ;;
esac
export VISTACK_DRIVER=$BACKEND

backend_py() {
  local token=
  # Only the simulator's admin endpoint needs a token; vsphere-inventory logs in to the vCenter.
  if [ "$BACKEND" = simulator ]; then token=$(openstack --os-cloud "$ADMIN_CLOUD" token issue -f value -c id); fi
  VISTACK_ADMIN_TOKEN=$token PYTHONPATH="$BACKEND_LIB${PYTHONPATH:+:$PYTHONPATH}" python3 "$@"
}
