import { fail } from '../core/errno';
import type { U64 } from '../core/u64';
import { u32Arg } from './u64-arg';
import { PAGE_SIZE, formatSize, hex, isPageAligned } from '../core/units';
import { TdxStatus } from '../tdx/module';
import { gfnToGmemIndex } from './memslot';
import { KVM_TDX_MEASURE_MEMORY_REGION } from './uapi';
import type { Vm } from './vm';

/**
 * KVM's side of building a TD: the KVM_MEMORY_ENCRYPT_OP sub-commands (arch/x86/kvm/vmx/tdx.c,
 * Documentation/virt/kvm/x86/intel-tdx.rst), each turned into SEAMCALLs.
 */
export function tdxInitVm(vm: Vm, attributes: bigint, gpaw: 48 | 52): void {
  const td = vm.td;
  if (!td) fail('EINVAL', 'KVM_TDX_INIT_VM on a VM that is not KVM_X86_TDX_VM');
  if (td.lifecycle !== 'created') fail('EINVAL', 'KVM_TDX_INIT_VM has already run');
  if (vm.vcpus.length > 0) fail('EINVAL', 'KVM_TDX_INIT_VM must run before any vCPU is created');
  vm.trace('kvm', 'KVM_TDX_INIT_VM', { attributes: hex(attributes), gpaw }, 'The VMM asks KVM to initialise the TD: its attributes and CPUID configuration are fixed from now on.');
  vm.kvm.tdx.mngInit(td, attributes, gpaw);
}

export function tdxInitVcpu(vm: Vm, vcpuId: number): void {
  const td = vm.td;
  const v = vm.vcpus.find((x) => x.id === vcpuId);
  if (!td || !v) fail('EINVAL', `no TD vCPU ${vcpuId}`);
  if (td.lifecycle !== 'initialized') fail('EINVAL', 'KVM_TDX_INIT_VCPU needs KVM_TDX_INIT_VM first and must come before KVM_TDX_FINALIZE_VM');
  if (v.tdInitialized) fail('EINVAL', `vCPU ${vcpuId} is already initialised`);
  vm.trace('kvm', 'KVM_TDX_INIT_VCPU', { vcpu: vcpuId }, `KVM initialises vCPU ${vcpuId} of the TD through the TDX module.`, { vcpu: vcpuId });
  vm.kvm.tdx.vpCreate(td, vcpuId);
  v.tdInitialized = true;
}

/**
 * KVM_TDX_INIT_MEM_REGION {source_addr, gpa, nr_pages}, flag KVM_TDX_MEASURE_MEMORY_REGION: copy
 * initial contents (the firmware) from the VMM's memory into private pages with TDH.MEM.PAGE.ADD,
 * measuring them with TDH.MR.EXTEND. The GFNs must be private and backed by guest_memfd
 * (kvm_gmem_populate()).
 */
export function tdxInitMemRegion(vm: Vm, sourceAddr: number, gpa: number, nrPages: number, flagsArg: U64): number {
  // struct kvm_tdx_cmd.flags is a __u32: more bits cannot be passed; within it `& ~` is exact.
  const flags = u32Arg(flagsArg, 'kvm_tdx_cmd.flags');
  const td = vm.td;
  if (!td) fail('EINVAL', 'KVM_TDX_INIT_MEM_REGION on a VM that is not a TD');
  if (td.lifecycle !== 'initialized') fail('EINVAL', td.lifecycle === 'runnable' ? 'the TD is finalized: no page can be added any more' : 'KVM_TDX_INIT_VM has not run');
  if (flags & ~KVM_TDX_MEASURE_MEMORY_REGION) fail('EINVAL', `unknown flags ${hex(flags)}`);
  if (!isPageAligned(sourceAddr) || !isPageAligned(gpa) || nrPages <= 0) fail('EINVAL', 'source_addr and gpa must be page aligned and nr_pages positive');
  const measure = (flags & KVM_TDX_MEASURE_MEMORY_REGION) !== 0;
  vm.trace('kvm', 'KVM_TDX_INIT_MEM_REGION', { source_addr: hex(sourceAddr), gpa: hex(gpa), nr_pages: nrPages, measure },
    `KVM copies ${formatSize(nrPages * PAGE_SIZE)} from the VMM's buffer at ${hex(sourceAddr)} into the TD's private memory at ${hex(gpa)}${measure ? ', measuring each page' : ''}.`,
    { gfns: [gpa / PAGE_SIZE, nrPages] });
  for (let i = 0; i < nrPages; i++) {
    const gfn = gpa / PAGE_SIZE + i;
    if (!vm.attributes.has(gfn)) fail('EINVAL', `GPA ${hex(gfn * PAGE_SIZE)} is not private (KVM_SET_MEMORY_ATTRIBUTES first)`);
    const slot = vm.findSlot(gfn);
    if (!slot?.gmem) fail('EINVAL', `GPA ${hex(gfn * PAGE_SIZE)} has no guest_memfd backing`);
    const [frame] = slot.gmem.getPfn(gfnToGmemIndex(slot, gfn));
    const src = vm.vmm.read(sourceAddr + i * PAGE_SIZE, PAGE_SIZE);
    const st = vm.kvm.tdx.memPageAdd(td, gfn, frame, src);
    if (st !== TdxStatus.TDX_SUCCESS) fail('EIO', `TDH.MEM.PAGE.ADD failed with ${hex(st)}`);
    vm.mmu.mirror!.set(gfn, frame + 1);
    if (measure) vm.kvm.tdx.mrExtend(td, gfn);
  }
  return 0;
}

export function tdxFinalizeVm(vm: Vm): void {
  const td = vm.td;
  if (!td) fail('EINVAL', 'KVM_TDX_FINALIZE_VM on a VM that is not a TD');
  if (td.lifecycle !== 'initialized') fail('EINVAL', td.lifecycle === 'runnable' ? 'the TD is already finalized' : 'KVM_TDX_INIT_VM has not run');
  vm.trace('kvm', 'KVM_TDX_FINALIZE_VM', {}, 'The VMM finalizes the TD: its initial measurement is sealed and it may run.');
  vm.kvm.tdx.mrFinalize(td);
}
