// A believable serial console log for a simulated VM, rendered from its recorded power events
// (nothing is stored but the events): a Linux boot with VMware virtual hardware, cloud-init
// lines naming the instance, shutdown lines on power-off and reboot. Deterministic for a given
// VM and event history, so repeated reads agree.
import type { VirtualMachine } from './model.ts';

function rng(seed: string) {
  let h = 2166136261;
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 16777619);
  return () => {
    h = Math.imul(h ^ (h >>> 15), 2246822507);
    h = Math.imul(h ^ (h >>> 13), 3266489909);
    return ((h ^= h >>> 16) >>> 0) / 4294967296;
  };
}

const ts = (s: number) => `[${s.toFixed(6).padStart(12)}]`;
const stamp = (t: number) => new Date(t).toUTCString().replace('GMT', '+0000');

function bootLines(vm: VirtualMachine, t: number, n: number, rescue: boolean): string[] {
  const r = rng(`${vm.name}:${n}`);
  let s = 0;
  const k = (msg: string, step = 0.01) => { s += step * (0.5 + r()); return `${ts(s)} ${msg}`; };
  const root = vm.disks.find((d) => d.key === vm.bootDisk) ?? vm.disks.find((d) => d.kind === 'root');
  const sectors = root ? Math.floor((root.capacityKb * 1024) / 512) : 0;
  const gb = root ? (root.capacityKb / 1024 / 1024).toFixed(2) : '0';
  const memKb = vm.memoryMb * 1024;
  const lines = [
    `${ts(0)} Linux version 6.1.0-21-cloud-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.90-1 (2024-05-03)`,
    `${ts(0)} Command line: BOOT_IMAGE=/boot/vmlinuz-6.1.0-21-cloud-amd64 root=${rescue ? 'LABEL=rescue' : 'PARTUUID=' + vm.name.slice(0, 8) + '-01'} ro console=tty0 console=ttyS0,115200`,
    `${ts(0)} DMI: VMware, Inc. VMware20,1/440BX Desktop Reference Platform, BIOS VMW201.00V.21805430.B64.2305221830 05/22/2023`,
    `${ts(0)} Hypervisor detected: VMware`,
    `${ts(0)} vmware: TSC freq read from hypervisor : ${(2400 + Math.floor(r() * 400)).toFixed(3)} MHz`,
    k(`Memory: ${memKb - 65536 - Math.floor(r() * 8192)}K/${memKb}K available`),
    k(`smpboot: Allowing ${vm.vcpus} CPUs, 0 hotplug CPUs`),
    k(`smp: Brought up 1 node, ${vm.vcpus} CPU${vm.vcpus > 1 ? 's' : ''}`, 0.2),
    k('clocksource: Switched to clocksource tsc-early', 0.1),
    k('vmw_pvscsi: VMware PVSCSI driver - version 1.0.7.0-k', 0.3),
    k(`sd 0:0:0:0: [sda] ${sectors} 512-byte logical blocks: (${gb} GiB)`),
  ];
  for (const d of vm.disks.filter((x) => x !== root)) {
    lines.push(k(`sd 0:0:${d.key - 2000}:0: [sd${String.fromCharCode(97 + ((d.key - 2000) % 26))}] ${Math.floor((d.capacityKb * 1024) / 512)} 512-byte logical blocks`));
  }
  vm.nics.forEach((nic, i) => {
    lines.push(k(`vmxnet3 0000:0${3 + i}:00.0 ens${192 + i * 32}: renamed from eth${i}`));
    lines.push(k(`vmxnet3 0000:0${3 + i}:00.0 ens${192 + i * 32}: NIC Link is Up 10000 Mbps`));
  });
  lines.push(
    k(`EXT4-fs (sda1): mounted filesystem ${vm.name} with ordered data mode. Quota mode: none.`, 0.5),
    k('systemd[1]: systemd 252.22-1~deb12u1 running in system mode', 0.4),
    k(`systemd[1]: Hostname set to <${rescue ? 'rescue' : vm.hostname}>.`),
    k('systemd[1]: Started open-vm-tools.service - Service for virtual machines hosted on VMware.', 0.6),
  );
  s += 2 + r();
  lines.push(
    `cloud-init[${400 + Math.floor(r() * 200)}]: Cloud-init v. 22.4.2 running 'init' at ${stamp(t + s * 1000)}. Up ${s.toFixed(2)} seconds.`,
    'ci-info: ++++++++++++++++++++++++++++++++++++++Net device info++++++++++++++++++++++++++++++++++++++',
    'ci-info: +--------+------+------------------------------+---------------+--------+-------------------+',
    'ci-info: | Device |  Up  |           Address            |      Mask     | Scope  |     Hw-Address    |',
    'ci-info: +--------+------+------------------------------+---------------+--------+-------------------+',
    ...vm.nics.map((n, i) => `ci-info: | ens${192 + i * 32} | True |              .               |       .       |   .    | ${n.mac} |`),
    'ci-info: |   lo   | True |          127.0.0.1           |   255.0.0.0   |  host  |         .         |',
    'ci-info: +--------+------+------------------------------+---------------+--------+-------------------+',
  );
  s += 1 + r();
  lines.push(
    `cloud-init[${700 + Math.floor(r() * 200)}]: Cloud-init v. 22.4.2 running 'modules:config' at ${stamp(t + s * 1000)}. Up ${s.toFixed(2)} seconds.`,
    `cloud-init[${700 + Math.floor(r() * 200)}]: Set hostname to ${rescue ? 'rescue' : vm.hostname} (instance ${vm.name})`,
    `cloud-init[${900 + Math.floor(r() * 200)}]: Cloud-init v. 22.4.2 finished at ${stamp(t + (s + 1) * 1000)}. Datasource DataSourceOpenStackLocal [net,ver=2].  Up ${(s + 1).toFixed(2)} seconds`,
    '',
    `Debian GNU/Linux 12 ${rescue ? 'rescue' : vm.hostname} ttyS0`,
    '',
    `${rescue ? 'rescue' : vm.hostname} login: `,
  );
  return lines;
}

function shutdownLines(vm: VirtualMachine, n: number, reboot: boolean): string[] {
  const r = rng(`${vm.name}:down:${n}`);
  const up = 60 + r() * 3600;
  return [
    `${ts(up)} systemd-shutdown[1]: Syncing filesystems and block devices.`,
    `${ts(up + 0.1)} systemd-shutdown[1]: Sending SIGTERM to remaining processes...`,
    `${ts(up + 0.4)} EXT4-fs (sda1): re-mounted ${vm.name}. Quota mode: none.`,
    `${ts(up + 0.6)} reboot: ${reboot ? 'Restarting system' : 'Power down'}`,
  ];
}

export function renderConsole(vm: VirtualMachine): string {
  const out: string[] = [];
  vm.events.forEach((ev, n) => {
    switch (ev.e) {
      case 'boot': out.push(...bootLines(vm, ev.t, n, false)); break;
      case 'boot-rescue': out.push(...bootLines(vm, ev.t, n, true)); break;
      case 'reboot': out.push(...shutdownLines(vm, n, true), ...bootLines(vm, ev.t, n, false)); break;
      case 'reboot-rescue': out.push(...shutdownLines(vm, n, true), ...bootLines(vm, ev.t, n, true)); break;
      case 'reset': out.push(...bootLines(vm, ev.t, n, false)); break;
      case 'reset-rescue': out.push(...bootLines(vm, ev.t, n, true)); break;
      case 'shutdown': out.push(...shutdownLines(vm, n, false)); break;
      case 'poweroff': break; // a hard power-off leaves nothing on the console
      case 'suspend': out.push('PM: suspend entry (deep)'); break;
      case 'resume': out.push('PM: suspend exit', 'clocksource: timekeeping watchdog: Marking clocksource \'tsc\' as unstable because the skew is too large'); break;
      default: break; // pause/unpause: the guest does not notice
    }
  });
  return out.join('\n') + (out.length ? '\n' : '');
}
