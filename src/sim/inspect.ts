import { PAGE_SIZE, hex } from './core/units';
import { PageState } from './core/page-state';
import { isSharedGpa } from './abi/tdx';
import { eptEntryFrame, eptEntryWritable } from './kvm/mmu';
import { FRAME_OWNER_NAMES, FrameOwner } from './host/physmem';
import type { Host } from './host/host';
import { gfnToGmemIndex, gfnToHva } from './kvm/memslot';
import { KVM_MEM_GUEST_MEMFD, KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY } from './kvm/uapi';
import type { Vm } from './kvm/vm';
import { SEPT_STATE_NAMES, Sept, septFrame, septState } from './tdx/sept';

/**
 * Read-only views of the machine for the panels and the tests: what state each guest page is in,
 * how one GPA is translated hop by hop, who owns each host frame. Nothing here changes the machine.
 */

export { PageState, PAGE_STATE_INFO, type PageStateCode } from './core/page-state';

/** The GFN range the page map shows for a VM: up to the end of its highest memslot. */
export function gfnSpan(vm: Vm): number {
  let end = 0;
  for (const s of vm.slots.values()) end = Math.max(end, s.baseGfn + s.npages);
  return end;
}

/**
 * Fill `out` (length ≥ count) with the state code of GFNs [first, first+count). Cost is linear in
 * the pages that are mapped plus the number of memslots and attribute ranges, so a 4 GiB guest
 * (1,048,576 pages) refreshes in a few milliseconds.
 */
export function pageStates(vm: Vm, out: Uint8Array, first = 0, count = out.length): Uint8Array {
  out.fill(PageState.NO_MEMSLOT, 0, count);
  const end = first + count;
  for (const s of vm.slots.values()) {
    const a = Math.max(first, s.baseGfn);
    const b = Math.min(end, s.baseGfn + s.npages);
    if (a < b) out.fill(PageState.SHARED_UNMAPPED, a - first, b - first);
  }
  for (const [a, b] of vm.attributes.intersect(first, end)) {
    for (let g = a; g < b; g++) if (out[g - first] !== PageState.NO_MEMSLOT) out[g - first] = PageState.PRIVATE_UNMAPPED;
  }
  vm.mmu.ept.forEachSet(first, count, (gfn, e) => {
    const priv = !vm.isTd && vm.attributes.has(gfn);
    out[gfn - first] = priv ? PageState.PRIVATE_MAPPED : eptEntryWritable(e) ? PageState.SHARED_MAPPED : PageState.SHARED_WRITE_PROTECTED;
  });
  const td = vm.td;
  if (td) {
    td.sept.forEachSet(first, count, (gfn, e) => {
      const st = septState(e);
      out[gfn - first] = st === Sept.MAPPED ? PageState.PRIVATE_MAPPED : st === Sept.PENDING ? PageState.PRIVATE_PENDING
        : st === Sept.FREE ? out[gfn - first] : PageState.PRIVATE_BLOCKED;
    });
  }
  return out;
}

/** One hop of a translation walk. */
export interface WalkHop {
  hop: 'gpa' | 'memslot' | 'attribute' | 'backing' | 'ept' | 'frame';
  title: string;
  /** Field → value, with the real names. */
  fields: Record<string, string | number | boolean>;
  /** One sentence. */
  text: string;
  ok: boolean;
}

/** How KVM would translate `gpa` for this VM now: GPA → memslot → attribute → backing → EPT → frame. */
export function translationWalk(vm: Vm, host: Host, gpa: number): WalkHop[] {
  const hops: WalkHop[] = [];
  const td = vm.td;
  let shared = false;
  let g = gpa;
  if (td && isSharedGpa(gpa, td.sharedBit)) {
    shared = true;
    g = gpa - td.sharedBit;
  }
  const gfn = Math.floor(g / PAGE_SIZE);
  hops.push({
    hop: 'gpa', title: 'Guest-physical address', ok: true,
    fields: { gpa: hex(gpa), gfn: hex(gfn), ...(td ? { shared_bit: `bit ${td.gpaw - 1}`, shared } : {}) },
    text: td ? `In a TD the GPA's bit ${td.gpaw - 1} says whether the access is shared; here it is ${shared ? 'set: shared' : 'clear: private'}.`
      : `GFN ${hex(gfn)} is the page number of the address.`,
  });
  const slot = vm.findSlot(gfn);
  if (!slot) {
    hops.push({ hop: 'memslot', title: 'Memslot', ok: false, fields: { slot: 'none' },
      text: 'No memslot covers this GFN: an access here is MMIO (KVM_EXIT_MMIO, or a #VE in a TD).' });
    return hops;
  }
  const flags: string[] = [];
  if (slot.flags & KVM_MEM_LOG_DIRTY_PAGES) flags.push('KVM_MEM_LOG_DIRTY_PAGES');
  if (slot.flags & KVM_MEM_READONLY) flags.push('KVM_MEM_READONLY');
  if (slot.flags & KVM_MEM_GUEST_MEMFD) flags.push('KVM_MEM_GUEST_MEMFD');
  hops.push({
    hop: 'memslot', title: `Memslot ${slot.id}`, ok: true,
    fields: { slot: slot.id, guest_phys_addr: hex(slot.baseGfn * PAGE_SIZE), memory_size: hex(slot.npages * PAGE_SIZE), flags: flags.join('|') || '0',
      userspace_addr: hex(slot.userspaceAddr), ...(slot.gmem ? { guest_memfd: slot.gmem.fd, guest_memfd_offset: hex(slot.gmemPgoff * PAGE_SIZE) } : {}) },
    text: `Memslot ${slot.id} covers the GFN${slot.gmem ? ' and has both a shared backing (userspace_addr) and a private one (guest_memfd)' : ''}.`,
  });
  const priv = vm.attributes.has(gfn);
  const wantPrivate = td ? !shared : priv;
  hops.push({
    hop: 'attribute', title: 'Memory attribute', ok: !td || priv === wantPrivate,
    fields: { attributes: priv ? 'KVM_MEMORY_ATTRIBUTE_PRIVATE' : '0', access: wantPrivate ? 'private' : 'shared' },
    text: td && priv !== wantPrivate
      ? `The access is ${wantPrivate ? 'private' : 'shared'} but the GFN is ${priv ? 'private' : 'shared'}: KVM exits with KVM_EXIT_MEMORY_FAULT so the VMM can convert it.`
      : `The GFN is ${priv ? 'private' : 'shared'}, so KVM takes the page from ${priv ? 'guest_memfd' : "the VMM's memory"}.`,
  });
  if (wantPrivate) {
    if (!slot.gmem) {
      hops.push({ hop: 'backing', title: 'guest_memfd', ok: false, fields: { guest_memfd: 'none' },
        text: 'The GFN is private but the memslot has no guest_memfd: KVM_EXIT_MEMORY_FAULT with KVM_MEMORY_EXIT_FLAG_PRIVATE.' });
      return hops;
    }
    const index = gfnToGmemIndex(slot, gfn);
    const f = slot.gmem.frameAt(index);
    hops.push({ hop: 'backing', title: `guest_memfd ${slot.gmem.fd}`, ok: f >= 0,
      fields: { fd: slot.gmem.fd, index, offset: hex(index * PAGE_SIZE), allocated: f >= 0 },
      text: f >= 0 ? `Page ${index} of the file is allocated (kvm_gmem_get_pfn()); the VMM cannot read or map it.`
        : `Page ${index} of the file is not allocated yet: the next private fault allocates and clears it.` });
    if (td) {
      const e = td.sept.get(gfn);
      const st = septState(e);
      hops.push({ hop: 'ept', title: 'Secure EPT (TDX module)', ok: st === Sept.MAPPED,
        fields: { state: SEPT_STATE_NAMES[st], ...(st !== Sept.FREE ? { hpa: hex(septFrame(e) * PAGE_SIZE) } : {}), kvm_mirror: vm.mmu.mirror!.get(gfn) !== 0 },
        text: st === Sept.MAPPED ? 'The Secure-EPT entry is MAPPED: the TD can use the page.'
          : st === Sept.PENDING ? 'PENDING: the page was added with TDH.MEM.PAGE.AUG and waits for TDG.MEM.PAGE.ACCEPT.'
          : st === Sept.FREE ? 'No Secure-EPT entry: the next access is an EPT violation and KVM adds the page (TDH.MEM.PAGE.AUG).'
          : `${SEPT_STATE_NAMES[st]}: the page is being removed.` });
      if (st === Sept.FREE) return hops;
      const frame = septFrame(e);
      hops.push(frameHop(host, frame, 'The frame holds TD-private data, encrypted with the TD\'s key: the host reads zeros from it.'));
      return hops;
    }
    const ee = vm.mmu.ept.get(gfn);
    hops.push({ hop: 'ept', title: 'EPT', ok: ee !== 0, fields: { present: ee !== 0, ...(ee ? { hpa: hex(eptEntryFrame(ee) * PAGE_SIZE) } : {}) },
      text: ee ? 'The EPT maps the GFN to the guest_memfd page.' : 'No EPT entry: the next access faults it in from guest_memfd.' });
    if (f >= 0) hops.push(frameHop(host, f, 'A software-protected VM encrypts nothing: the host kernel can still read this frame.'));
    return hops;
  }
  const hva = gfnToHva(slot, gfn);
  const hf = vm.vmm.lookup(hva);
  hops.push({ hop: 'backing', title: "VMM's memory (HVA)", ok: hf >= 0,
    fields: { hva: hex(hva), host_pte: hf >= 0 ? `present → ${hex(hf * PAGE_SIZE)}` : 'not present' },
    text: hf >= 0 ? "The VMM's page table maps the HVA to a host frame." : 'The HVA is not backed yet: the next fault goes through get_user_pages().' });
  const e = vm.mmu.ept.get(gfn);
  hops.push({ hop: 'ept', title: td ? 'Shared EPT' : 'EPT', ok: e !== 0,
    fields: { present: e !== 0, writable: eptEntryWritable(e), ...(e ? { hpa: hex(eptEntryFrame(e) * PAGE_SIZE) } : {}) },
    text: e === 0 ? 'No EPT entry yet: the next access is an EPT violation.' : eptEntryWritable(e) ? 'Mapped writable.' : 'Mapped read-only: dirty logging will catch the next write.' });
  if (hf >= 0) hops.push(frameHop(host, hf, "An ordinary page of the VMM's memory: the host can read and write it."));
  return hops;
}

function frameHop(host: Host, frame: number, text: string): WalkHop {
  const m = host.memory;
  return {
    hop: 'frame', title: 'Host frame', ok: true,
    fields: { hpa: hex(frame * PAGE_SIZE), owner: FRAME_OWNER_NAMES[m.owner[frame]], hkid: m.hkid[frame], poisoned_lines: m.poisonedLines(frame) },
    text,
  };
}

/**
 * Frame owner codes for the host view, with the VM a guest_memfd or TDX-metadata frame belongs to.
 * With `frames`, only those frames are recomputed (the rest of `out` is assumed current).
 */
export function frameOwners(host: Host, vms: readonly Vm[], out: Uint8Array, frames?: Int32Array): Uint8Array {
  // Codes: 0 free, 1 host kernel, 2 process memory, 3+2i guest_memfd of VM i, 4+2i TDX metadata of VM i.
  const m = host.memory;
  const owner = m.owner;
  const ownerId = m.ownerId;
  // Lookup tables by owner id (inode numbers and HKIDs are small integers): no Map on the hot loop.
  let maxIno = 0;
  let maxHkid = 0;
  for (const vm of vms) {
    for (const g of vm.gmems.values()) maxIno = Math.max(maxIno, g.ino);
    if (vm.td) maxHkid = Math.max(maxHkid, vm.td.hkid);
  }
  const gmemCode = new Uint8Array(maxIno + 1).fill(3);
  const tdxCode = new Uint8Array(maxHkid + 1).fill(4);
  vms.forEach((vm, i) => {
    for (const g of vm.gmems.values()) gmemCode[g.ino] = 3 + 2 * i;
    if (vm.td) tdxCode[vm.td.hkid] = 4 + 2 * i;
  });
  const n = Math.min(out.length, m.nframes);
  const G = FrameOwner.GuestMemfd;
  const T = FrameOwner.TdxMetadata;
  const code = (f: number): number => {
    const o = owner[f];
    return o === G ? gmemCode[ownerId[f]] ?? 3 : o === T ? tdxCode[ownerId[f]] ?? 4 : o;
  };
  if (frames) {
    for (let i = 0; i < frames.length; i++) if (frames[i] < n) out[frames[i]] = code(frames[i]);
    return out;
  }
  out.set(owner.subarray(0, n));
  for (let f = 0; f < n; f++) {
    const o = owner[f];
    if (o === G || o === T) out[f] = code(f);
  }
  return out;
}

/** What one host frame is, for the host view's hover and click. */
export interface FrameInfo {
  hpa: string;
  owner: string;
  /** The VM the frame serves, if any, and where it appears in that VM. */
  vm: string | null;
  detail: string;
  hkid: number;
  poisonedLines: number;
  /** A GPA that maps to this frame now (private view or shared view), if any. */
  gpa: string | null;
}

export function frameInfo(host: Host, vms: readonly Vm[], frame: number): FrameInfo {
  const m = host.memory;
  const owner = m.owner[frame];
  const base = { hpa: hex(frame * PAGE_SIZE), owner: FRAME_OWNER_NAMES[owner], hkid: m.hkid[frame], poisonedLines: m.poisonedLines(frame) };
  if (owner === FrameOwner.GuestMemfd) {
    for (const vm of vms) for (const g of vm.gmems.values()) {
      if (g.ino !== m.ownerId[frame]) continue;
      let index = -1;
      g.forEachPage((i, f) => { if (f === frame) index = i; });
      let gpa: string | null = null;
      for (const b of g.bindings) if (index >= b.pgoff && index < b.pgoff + b.npages) gpa = hex((b.baseGfn + index - b.pgoff) * PAGE_SIZE);
      return { ...base, vm: vm.name, detail: `page ${index} of guest_memfd ${g.fd}`, gpa };
    }
  }
  if (owner === FrameOwner.TdxMetadata) {
    const vm = vms.find((v) => v.td?.hkid === m.ownerId[frame]);
    return { ...base, vm: vm?.name ?? null, detail: 'TDX module metadata (TDR, TDCS, TDVPS or a Secure-EPT page)', gpa: null };
  }
  if (owner === FrameOwner.ProcessAnon) {
    for (const vm of vms) {
      if (vm.vmm.pid !== m.ownerId[frame]) continue;
      let hva = -1;
      for (const v of vm.vmm.vmas) vm.vmm.forEachPresent(v.start, v.end - v.start, (a, f) => { if (f === frame) hva = a; });
      let gpa: string | null = null;
      if (hva >= 0) for (const s of vm.slots.values()) {
        if (hva >= s.userspaceAddr && hva < s.userspaceAddr + s.npages * PAGE_SIZE) gpa = hex((s.baseGfn + (hva - s.userspaceAddr) / PAGE_SIZE) * PAGE_SIZE);
      }
      return { ...base, vm: vm.name, detail: hva >= 0 ? `the VMM's page at HVA ${hex(hva)}` : "a page of the VMM's memory", gpa };
    }
    return { ...base, vm: null, detail: `memory of process ${m.ownerId[frame]}`, gpa: null };
  }
  return { ...base, vm: null, detail: owner === FrameOwner.Free ? 'free' : "the host kernel's own memory", gpa: null };
}
