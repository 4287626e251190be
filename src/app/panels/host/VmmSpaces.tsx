import { useEffect, useMemo, useState } from 'react';
import type { VmView } from '../../../sim/lab';
import { useLabClient } from '../../client-context';
import { useLab, useLabStore } from '../../store';
import { PAGE_SIZE, formatBytes, hex } from './owners';

type Vma = { start: string; end: string; prot: string; name: string; resident: number };
type VmSlots = Pick<VmView, 'name' | 'isTd' | 'memslots'>;

/** The mappings are asked of the worker at most this often while frames arrive. */
const REFRESH_MS = 400;

/** The VMM process's address space per VM: its VMAs, and how much of the guest RAM it maps is resident. */
export function VmmSpaces() {
  const client = useLabClient();
  const store = useLabStore();
  const focus = useLab((s) => s.focusVm);
  // A string (compared by value), so that a new frame with the same VMs does not re-render.
  const vmsJson = useLab((s) => JSON.stringify(s.packet?.frame.vms.map((v) => ({ name: v.name, isTd: v.isTd, memslots: v.memslots })) ?? []));
  const vms = useMemo(() => JSON.parse(vmsJson) as VmSlots[], [vmsJson]);
  const names = vms.map((v) => v.name).join('\n');
  const [maps, setMaps] = useState<Record<string, Vma[]>>({});

  useEffect(() => {
    const list = names ? names.split('\n') : [];
    let live = true;
    let busy = false;
    let again = false;
    let timer = 0;
    let last = 0;
    const fetchAll = async () => {
      timer = 0;
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      last = performance.now();
      const entries = await Promise.all(list.map(async (n) => [n, (await client.vmmMappings(n)) ?? []] as const));
      busy = false;
      if (!live) return;
      setMaps((prev) => {
        const next = Object.fromEntries(entries);
        return JSON.stringify(prev) === JSON.stringify(next) ? prev : next;
      });
      if (again) {
        again = false;
        schedule();
      }
    };
    const schedule = () => {
      if (timer) return;
      timer = window.setTimeout(() => void fetchAll(), Math.max(0, REFRESH_MS - (performance.now() - last)));
    };
    void fetchAll();
    const unsubscribe = store.subscribe((s, prev) => {
      if (s.packet !== prev.packet) schedule();
    });
    return () => {
      live = false;
      unsubscribe();
      clearTimeout(timer);
    };
  }, [client, store, names]);

  // The focused VM first, the others beside it.
  const ordered = [...vms].sort((a, b) => Number(b.name === focus) - Number(a.name === focus));
  return (
    <div className="vmm-spaces vm-columns" tabIndex={0} aria-label="VMM address spaces">
      {ordered.map((vm) => (
        <section key={vm.name} aria-label={`VMM address space of ${vm.name}`} data-testid={`vmm-space-${vm.name}`}>
          <h4>VMM of {vm.name}{vm.isTd ? ' (TD)' : ''}</h4>
          <VmaTable vm={vm} vmas={maps[vm.name]} />
        </section>
      ))}
    </div>
  );
}

function VmaTable({ vm, vmas }: { vm: VmSlots; vmas: Vma[] | undefined }) {
  if (!vmas) return <p className="note">Asking the lab…</p>;
  if (vmas.length === 0) return <p className="note">The VMM has no mappings yet.</p>;
  return (
    <table className="data vma-table">
      <thead>
        <tr><th scope="col">start–end (HVA)</th><th scope="col">prot</th><th scope="col">name</th><th scope="col">resident pages</th></tr>
      </thead>
      <tbody>
        {vmas.map((m) => {
          const start = Number.parseInt(m.start.slice(2), 16);
          const end = Number.parseInt(m.end.slice(2), 16);
          const pages = Math.max(1, Math.round((end - start) / PAGE_SIZE));
          const slots = vm.memslots.filter((s) => {
            const ua = Number.parseInt(s.userspace_addr.slice(2), 16);
            return ua >= start && ua < end;
          });
          const frac = Math.min(1, m.resident / pages);
          return (
            <tr key={m.start}>
              <td className="mono">{m.start}–<br />{m.end}</td>
              <td className="mono">{m.prot}</td>
              <td>
                {m.name}
                {slots.map((s) => {
                  const gpa = Number.parseInt(s.guest_phys_addr.slice(2), 16);
                  const size = Number.parseInt(s.memory_size.slice(2), 16);
                  return <div key={s.slot} className="note">guest RAM: GPA {hex(gpa)}–{hex(gpa + size)} (memslot {s.slot}{vm.isTd ? ', shared view' : ''})</div>;
                })}
              </td>
              <td>
                <div className="resident">
                  <span className="mono">{m.resident.toLocaleString('en')} / {pages.toLocaleString('en')}</span>
                  <span className="bar" role="img" aria-label={`${Math.round(frac * 100)}% resident: ${formatBytes(m.resident * PAGE_SIZE)} of ${formatBytes(pages * PAGE_SIZE)}`}>
                    <span className="bar-fill" style={{ width: `${Math.max(frac > 0 ? 2 : 0, frac * 100)}%` }} />
                  </span>
                </div>
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
