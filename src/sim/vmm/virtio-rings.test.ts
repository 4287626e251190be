import { describe, expect, test } from 'vitest';
import { Lab } from '../lab';
import { VIRTIO_RING_AREA } from '../guest/kernel/boot-linux';
import type { VirtioPci } from './devices/virtio';
import type { VmmVm } from './vmm';

/**
 * Where virtio-net's rings live, and whether QEMU can reach them: linux_boot sets up queue 0 as
 * virtio_pci_modern and virtio_net do, in ordinary memory for an ordinary VM, in memory made
 * shared through the DMA API for a TD — and, with the lab's boot option virtio_rings_private, in
 * a TD's private memory, which the device cannot read.
 */

const boot = (options = 0) => ['_start:', '    call firmware_boot', ...(options ? [`    mov rdi, ${options}`] : []), '    call linux_boot', '    hlt'];

/**
 * Boot one VM. `accessPlatform` sets virtio-net's iommu_platform property before the guest runs;
 * QEMU turns it on by itself for a confidential guest (hw/core/machine.c).
 */
function bootVm(type: 'default' | 'tdx', o: { options?: number; accessPlatform?: boolean } = {}): { lab: Lab; vmm: VmmVm; net: VirtioPci } {
  const spec = { name: 'g', type, memory: '64M', program: boot(o.options), ...(type === 'tdx' ? { tdx: { firmware_accept: '64M' } } : {}) };
  const lab = new Lab({ version: 1, title: 't', vms: [spec], steps: [{ do: 'run', vm: 'g' }] });
  const vmm = lab.run.vmms.get('g')!;
  const net = vmm.platform.model<VirtioPci>('virtio-net')!;
  if (o.accessPlatform !== undefined) net.accessPlatform = o.accessPlatform;
  while (!lab.done) lab.step();
  return { lab, vmm, net };
}

const ringTraces = (lab: Lab) => lab.run.trace.events.filter((e) => e.name === 'virtio_queue_set_rings');
const ringGfns = [VIRTIO_RING_AREA / 4096, VIRTIO_RING_AREA / 4096 + 1];

describe('virtio-net queue 0', () => {
  test('an ordinary VM: the rings are in ordinary memory and QEMU reaches them through its mapping', () => {
    const { lab, vmm, net } = bootVm('default');
    const info = vmm.kernel.bootInfo!;
    expect(info.failures).toEqual([]);
    expect(info.virtqueues).toEqual([{ device: 'virtio0', queue: 0, size: 256, desc: 0x600000, driverArea: 0x601000, deviceArea: 0x601240, memory: 'ordinary' }]);
    expect(net.status).toBe(0x0f); // ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK
    expect(net.driverFeatures[1]).toBe(1); // VIRTIO_F_VERSION_1 only: QEMU offers no ACCESS_PLATFORM to an ordinary VM
    expect(net.ringReach()).toMatchObject([{ queue: 0, desc: 0x600000, reachable: true, unreachable: [] }]);
    expect(ringTraces(lab).map((e) => e.text)).toEqual([expect.stringMatching(/^QEMU can reach virtio-net queue 0's rings/)]);
    expect(info.log).toContain('linux_boot: virtio_net virtio0: queue 0 (256 entries) at 0x600000, ordinary memory, DRIVER_OK');
  });

  test('a TD: the rings go through the DMA API into shared memory, and QEMU reaches them', () => {
    const { lab, vmm, net } = bootVm('tdx', { accessPlatform: true });
    const info = vmm.kernel.bootInfo!;
    expect(info.failures).toEqual([]);
    const [q] = info.virtqueues;
    expect(q).toMatchObject({ device: 'virtio0', size: 256, memory: 'shared' });
    // The device address is the plain GPA: x86's dma_addr_unencrypted() adds no shared bit.
    expect(q.desc).toBe(0x600000);
    expect(net.driverFeatures[1]).toBe(3); // VERSION_1 | ACCESS_PLATFORM
    for (const gfn of ringGfns) expect(vmm.vm.isPrivate(gfn)).toBe(false);
    const convert = lab.run.trace.events.find((e) => e.name === 'kvm_convert_memory' && e.args.start === '0x600000');
    expect(convert?.args).toMatchObject({ size: '0x2000', to: 'shared' });
    expect(net.ringReach()).toMatchObject([{ queue: 0, reachable: true }]);
    expect(ringTraces(lab)[0].args.reachable).toBe(true);
  });

  test('a TD with virtio_rings_private: the rings stay private and QEMU cannot reach them', () => {
    const { lab, vmm, net } = bootVm('tdx', { accessPlatform: true, options: 1 });
    const [q] = vmm.kernel.bootInfo!.virtqueues;
    expect(q).toMatchObject({ desc: 0x600000, memory: 'private' });
    for (const gfn of ringGfns) expect(vmm.vm.isPrivate(gfn)).toBe(true);
    expect(lab.run.trace.events.some((e) => e.name === 'kvm_convert_memory' && e.args.start === '0x600000')).toBe(false);
    expect(net.ringReach()).toMatchObject([{ queue: 0, reachable: false, unreachable: ['descriptor table', 'driver area', 'device area'] }]);
    const [t] = ringTraces(lab);
    expect(t.args.reachable).toBe(false);
    expect(t.text).toMatch(/shared alias, which the guest never wrote.*must place its rings in shared memory/);
  });

  test('a TD whose device does not offer VIRTIO_F_ACCESS_PLATFORM: Linux refuses it before any ring exists', () => {
    const { lab, vmm, net } = bootVm('tdx', { accessPlatform: false });
    const info = vmm.kernel.bootInfo!;
    expect(info.log).toContain('virtio_net virtio0: device must provide VIRTIO_F_ACCESS_PLATFORM');
    expect(info.virtqueues).toEqual([]);
    expect(info.devices.find((d) => d.name === 'virtio_net virtio0')?.status).toBe('absent');
    expect(net.status & 0x80).toBe(0x80); // VIRTIO_CONFIG_S_FAILED
    expect(ringTraces(lab)).toEqual([]);
  });
});
