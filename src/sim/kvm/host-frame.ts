import { PAGE_SIZE } from '../core/units';
import type { Process } from '../host/process';
import { gfnToGmemIndex } from './memslot';
import type { Vm } from './vm';

/**
 * The host frame behind a GPA as the host kernel can find it: a private GFN's guest_memfd page (when
 * the VM has private memory), else the page the user-space mapping of the GPA resolves to.
 */
export function hostFrameOf(vm: Vm, process: Process, gpaToHva: (gpa: number) => number | undefined, gpa: number, privateMemory: boolean): { frame: number; view: 'private' | 'shared' } | null {
  const gfn = Math.floor(gpa / PAGE_SIZE);
  if (vm.isPrivate(gfn) && privateMemory) {
    const slot = vm.findSlot(gfn);
    if (!slot?.gmem) return null;
    const f = slot.gmem.frameAt(gfnToGmemIndex(slot, gfn));
    return f >= 0 ? { frame: f, view: 'private' } : null;
  }
  const hva = gpaToHva(gpa);
  if (hva === undefined) return null;
  const f = process.lookup(hva);
  return f >= 0 ? { frame: f, view: 'shared' } : null;
}
