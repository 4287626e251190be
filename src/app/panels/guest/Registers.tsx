import { useState } from 'react';

/** Left column: rip and the legacy registers; right column: r8..r15 (the order KVM_GET_REGS lists them). */
const LEFT = ['rip', 'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp'];
const RIGHT = ['r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rflags'];

type Regs = Readonly<Record<string, string>>;

/**
 * The registers that changed the last time any changed. Kept until the next change, so after a step
 * they stay marked even if more frames arrive with the same values.
 */
function useChanged(regs: Regs | null): ReadonlySet<string> {
  const [track, setTrack] = useState<{ regs: Regs | null; changed: ReadonlySet<string> }>({ regs, changed: new Set() });
  if (track.regs !== regs) {
    // Derived from the previous render's values (React's "store information from previous renders").
    let changed: ReadonlySet<string> = new Set();
    if (regs && track.regs) {
      const diff = new Set(Object.keys(regs).filter((k) => regs[k] !== track.regs![k]));
      changed = diff.size ? diff : track.changed;
    }
    setTrack({ regs, changed });
    return changed;
  }
  return track.changed;
}

/** The vCPU's registers as KVM_GET_REGS returns them, or why the host cannot read them. */
export function Registers({ vm, regs, note }: { vm: string; regs: Regs | null; note: string }) {
  const changed = useChanged(regs);
  if (!regs) {
    return (
      <div className={note ? 'regs-note' : 'note'} role="note" aria-label={`${vm} registers`} data-testid="regs-note">
        {note ? <><strong>Registers hidden.</strong> {note}</> : 'No vCPU is running a program yet.'}
      </div>
    );
  }
  const cell = (name: string | undefined) => {
    if (!name || !(name in regs)) return <td colSpan={2} />;
    const c = changed.has(name);
    return (
      <>
        <th scope="row">{name}</th>
        <td className={c ? 'changed' : undefined}>{regs[name]}{c && <span className="sr-only"> (changed)</span>}</td>
      </>
    );
  };
  const rows = Math.max(LEFT.length, RIGHT.filter((r) => r in regs).length);
  return (
    <table className="regs-table" aria-label={`${vm} registers`} data-testid="regs">
      <tbody>
        {Array.from({ length: rows }, (_, i) => (
          <tr key={i}>{cell(LEFT[i])}{cell(RIGHT[i])}</tr>
        ))}
      </tbody>
    </table>
  );
}
