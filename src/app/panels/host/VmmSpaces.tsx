import { Fragment, useMemo, useState } from 'react';
import type { VmView, VmmMapping } from '../../../sim/lab';
import { useLabClient } from '../../client-context';
import { useLab } from '../../store';
import { useWorkerQuery } from '../../use-worker-query';
import { PAGE_SIZE, formatBytes, hex } from './owners';
import { plural } from '../../format';

type Vma = VmmMapping;
type Run = VmmMapping['guest'][number];
type VmSlots = Pick<VmView, 'name' | 'isTd' | 'memslots'>;

/** The mappings are asked of the worker at most this often while frames arrive. */
const REFRESH_MS = 400;
/** Runs listed in words under a strip; the rest are counted ("and N more"). */
const RUNS_LISTED = 4;

const num = (h: string) => Number.parseInt(h.slice(2), 16);

/** The VMM process's address space per VM of one host: its VMAs, and how much of the guest RAM it maps is resident. */
export function VmmSpaces({ host }: { host: string }) {
  const client = useLabClient();
  const focus = useLab((s) => (s.focusVm?.host === host ? s.focusVm.vm : null));
  // A string (compared by value), so that a new frame with the same VMs does not re-render.
  const vmsJson = useLab((s) => JSON.stringify(s.packet?.frame.vms.filter((v) => v.host === host).map((v) => ({ name: v.name, isTd: v.isTd, memslots: v.memslots })) ?? []));
  const vms = useMemo(() => JSON.parse(vmsJson) as VmSlots[], [vmsJson]);
  const names = vms.map((v) => v.name).join('\n');
  const [maps, setMaps] = useState<Record<string, Vma[]>>({});

  useWorkerQuery(`${host}\n${names}`, async (live) => {
    const list = names ? names.split('\n') : [];
    const entries = await Promise.all(list.map(async (n) => [n, (await client.vmmMappings({ host, vm: n })) ?? []] as const));
    if (!live()) return;
    setMaps((prev) => {
      const next = Object.fromEntries(entries);
      return JSON.stringify(prev) === JSON.stringify(next) ? prev : next;
    });
  }, (s, prev) => s.packet !== prev.packet, REFRESH_MS);

  // The focused VM first, the others beside it.
  const ordered = [...vms].sort((a, b) => Number(b.name === focus) - Number(a.name === focus));
  return (
    <div className="vmm-spaces vm-columns" tabIndex={0} aria-label="VMM address spaces">
      {ordered.map((vm) => (
        <section key={vm.name} aria-label={`VMM address space of ${vm.name} on ${host}`} data-testid={`vmm-space-${vm.name}`} data-host={host}>
          <h4>VMM of {vm.name}{vm.isTd ? ' (TD)' : ''}</h4>
          {vm.isTd && (
            <p className="note td-shared-note">
              A TD&apos;s guest RAM is mapped here only as its shared view: the pages shown are shared (or the host touched
              them through this mapping); private pages live in guest_memfd and never appear here.
            </p>
          )}
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
          const start = num(m.start);
          const end = num(m.end);
          const pages = Math.max(1, Math.round((end - start) / PAGE_SIZE));
          const slots = vm.memslots.filter((s) => {
            const ua = num(s.userspace_addr);
            return ua >= start && ua < end;
          });
          const frac = Math.min(1, m.resident / pages);
          return (
            <Fragment key={m.start}>
              <tr className={slots.length ? 'backs-guest' : undefined}>
                <td className="mono">{m.start}–<br />{m.end}</td>
                <td className="mono">{m.prot}</td>
                <td>
                  {m.name}
                  {slots.map((s) => {
                    const gpa = num(s.guest_phys_addr);
                    const size = num(s.memory_size);
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
              {slots.length > 0 && (
                <tr className="guest-row">
                  <td colSpan={4}><GuestPages vm={vm} vma={m} slots={slots} /></td>
                </tr>
              )}
            </Fragment>
          );
        })}
      </tbody>
    </table>
  );
}

/**
 * Which guest pages one VMA maps: a strip over the VM's whole guest-physical range (its memslots; the
 * parts this VMA does not back, such as the hole below 4 GiB, are hatched) with a mark per run of
 * resident pages, and the runs in words. A mark is at least 3 px wide so that a single page shows.
 */
function GuestPages({ vm, vma, slots }: { vm: VmSlots; vma: Vma; slots: VmSlots['memslots'] }) {
  const lo = Math.min(...vm.memslots.map((s) => num(s.guest_phys_addr)));
  const hi = Math.max(...vm.memslots.map((s) => num(s.guest_phys_addr) + num(s.memory_size)));
  const pct = (gpa: number) => `${((gpa - lo) / (hi - lo)) * 100}%`;
  const width = (bytes: number) => `${(bytes / (hi - lo)) * 100}%`;
  const runs = vma.guest;
  const total = runs.length + vma.guestMore;
  const listed = runs.slice(0, RUNS_LISTED);
  const more = total - listed.length;
  // Parts of the range this VMA does not back: another VMA's memslot, or no memslot at all (a hole).
  const gaps = slots.reduce((n, s) => n - num(s.memory_size), hi - lo) > 0;
  const words = (r: Run) => `GPA ${r.gpa}–${hex(num(r.end) - 1)}, ${plural(r.pages, 'page')}`;
  const what = total === 0
    ? 'no guest page is resident in it'
    : `${plural(total, 'run')} of resident guest pages marked where they lie${vma.guestMore ? ` (the first ${runs.length} drawn)` : ''}; listed in words`;
  const hatched = gaps ? `; hatched: GPAs ${vma.name} does not back` : '';
  return (
    <div className="guest-pages">
      <span className="guest-pages-label">guest pages it maps</span>
      <div className="gpa-figure">
        <div className="gpa-strip" role="img" aria-label={`Guest-physical ${hex(lo)}–${hex(hi - 1)} of ${vm.name}, ${vma.name}: ${what}${hatched}.`}>
          {slots.map((s) => (
            <span key={s.slot} className="gpa-slot" style={{ left: pct(num(s.guest_phys_addr)), width: width(num(s.memory_size)) }} />
          ))}
          {runs.map((r) => (
            <span key={r.gpa} className="gpa-run" title={words(r)} style={{ left: pct(num(r.gpa)), width: width(num(r.end) - num(r.gpa)) }} />
          ))}
        </div>
        <div className="gpa-axis mono" aria-hidden="true"><span>{hex(lo)}</span><span>{hex(hi)} ({formatBytes(hi - lo)})</span></div>
      </div>
      {total === 0 ? (
        <p className="note gpa-none">None resident.</p>
      ) : (
        <ul className="gpa-runs" aria-label={`Guest pages ${vma.name} of ${vm.name} maps`}>
          {listed.map((r) => <li key={r.gpa}>{words(r)}</li>)}
          {more > 0 && <li className="gpa-more">and {plural(more, 'more run')}</li>}
        </ul>
      )}
      {gaps && <p className="note gpa-gaps">Hatched: guest-physical addresses {vma.name} does not back (no memslot of it there).</p>}
    </div>
  );
}
