import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { ACTIONS } from '../../actions';
import { createLabStore } from '../../store';
import type { LabClient } from '../../lab-client';
import { ordinaryView, tdView } from './fixture.test-data';
import { SurfaceBody, type SurfaceBodyProps } from './SurfaceBody';

const render = (p: Partial<SurfaceBodyProps> = {}) => renderToString(
  <SurfaceBody vms={['ordinary', 'td']} views={{ ordinary: ordinaryView(), td: tdView() }} was={{}} errors={{}} send={() => {}} {...p} />,
);
/** The HTML of the element that carries `marker`, up to the end of its row or item. */
const around = (html: string, marker: string, end = '</tr>') => {
  const i = html.indexOf(marker);
  expect(i).toBeGreaterThan(-1);
  return html.slice(html.lastIndexOf('<', i), html.indexOf(end, i));
};
/** The HTML from `marker` on (to find a row in one VM's table). */
const from = (html: string, marker: string) => html.slice(html.indexOf(marker));
const text = (html: string) => html.replace(/<[^>]+>/g, '').replace(/&#x27;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, '&');

describe('the attack-surface view', () => {
  it('shows each VM\'s figure and its parts side by side', () => {
    const html = render();
    const ord = ordinaryView().surface;
    const td = tdView().surface;
    expect(td.total).toBeLessThan(ord.total);
    expect(text(around(html, 'data-testid="surface-card-ordinary"', '</section>'))).toContain(`${ord.total}ways into host code`);
    expect(text(around(html, 'data-testid="surface-card-td"', '</section>'))).toContain(`${td.total}ways into host code`);
    expect(td.msrs).toBe(1);
    expect(text(html)).toContain(`${td.ports} port ranges${td.mmio} MMIO ranges1 MSR`);
    expect(text(html)).toContain(`${ord.ports} port ranges${ord.mmio} MMIO ranges${ord.msrs} MSRs`);
    expect(text(html)).not.toContain('from');
  });

  it('says what needs a reboot and shows the drop once the figure changed', () => {
    const after = ordinaryView({ hpet: false, pending: ['HPET off'] });
    const html = render({ views: { ordinary: after, td: tdView() }, was: { ordinary: ordinaryView().surface.total } });
    const card = text(around(html, 'data-testid="surface-card-ordinary"', '</section>'));
    expect(card).toContain('Needs a reboot: HPET off');
    expect(card).toContain(`▼ down from ${ordinaryView().surface.total}`);
    expect(around(html, 'data-testid="surface-card-ordinary"', '</section>')).toMatch(/<button type="button" class="primary">Reboot /);
    expect(text(around(html, 'data-testid="surface-card-td"', '</section>'))).toContain('Running the configuration it booted with.');
  });

  it('checks the next boot\'s design in the radios and says what runs now', () => {
    const chosen = ordinaryView({ pending: ["design mode: the talk's proposal"] });
    const c = around(render({ views: { ordinary: chosen, td: tdView() } }), 'data-testid="surface-card-ordinary"', '</section>');
    expect(c).toMatch(/<input type="radio" name="[^"]+" checked=""\/>the talk&#x27;s proposal/);
    expect(text(c)).toContain('Running: upstream today · Allow-list: none');
    expect(text(c)).toContain("Freezing device state is the talk's proposal: reboot to start it.");
    const plain = around(render(), 'data-testid="surface-card-ordinary"', '</section>');
    expect(plain).toMatch(/<input type="radio" name="[^"]+" checked=""\/>upstream today/);
  });

  it('disables what cannot be done and says why', () => {
    const html = render();
    // The PIC cannot be switched on in a TD; the reason is text, not only a greyed switch.
    const pic = around(from(html, 'aria-label="Devices of td"'), 'data-testid="device-pic"');
    expect(pic).toContain('role="switch"');
    expect(pic).toMatch(/disabled=""/);
    expect(text(pic)).toContain("QEMU's TDX setup forces the 8259 PIC off");
    expect(around(from(html, 'aria-label="Devices of td"'), 'data-testid="device-hpet"')).not.toMatch(/disabled=""/);
    expect(around(html, 'data-testid="device-pic"')).not.toMatch(/disabled=""/);
    // Freezing is the talk's proposal: refused for the upstream VM, offered to the talk-mode TD.
    const freezeOrd = around(html, 'data-testid="surface-card-ordinary"', '</section>');
    expect(freezeOrd).toMatch(/<button type="button" disabled="" aria-describedby="[^"]+">Freeze devices/);
    expect(text(freezeOrd)).toContain("Freezing device state is the talk's proposal");
    expect(around(html, 'data-testid="surface-card-td"', '</section>')).toMatch(/<button type="button">Freeze devices/);
  });

  it('marks changed and removed ACPI tables in words, and flags failed boot-log lines', () => {
    const html = render({ views: { ordinary: ordinaryView({ hpet: false }), td: tdView() } });
    const hpet = around(html, 'data-testid="acpi-table-HPET"', '</li>');
    expect(hpet).toContain('<del>');
    expect(text(hpet)).toContain('HPET at 0x7ffe2a44, 56 bytes, checksum okremoved since the last boot');
    expect(text(around(html, 'data-testid="acpi-table-MCFG"', '</summary>'))).toContain('checksum BAD');
    expect(text(around(html, 'data-testid="acpi-table-APIC"', '</details>'))).toContain('Flags: 0x1 (PCAT_COMPAT)changed');
    const log = around(html, 'data-testid="boot-log-td"', '</pre>');
    expect(log).toMatch(/<mark class="flagged">.*i8042: PNP: No PS\/2 controller found\./);
    expect(log.match(/<mark class="flagged">/g)).toHaveLength(2); // and "hpet: HPET not present"; the other four lines are plain
  });

  it('offers a per-MSR policy with the current filter and constraint selected', () => {
    const html = render();
    const tsc = around(html, 'IA32_TIME_STAMP_COUNTER');
    expect(tsc).toMatch(/aria-label="Filter write of IA32_TIME_STAMP_COUNTER \(0x10\)"/);
    expect(tsc).toMatch(/<option value="deny" selected="">deny<\/option>/);
    expect(tsc).toMatch(/<option value="fixed" selected="">fixed<\/option>/);
    expect(text(tsc)).toContain('= 0x0');
    // Only the TD's table has the TDX module's class column.
    expect(text(around(html, 'aria-label="MSRs of td"', '</thead>'))).toContain('TDX module');
    expect(text(around(html, 'aria-label="MSRs of ordinary"', '</thead>'))).not.toContain('TDX module');
  });

  it('shows one VM alone without per-VM headings, and says when a view is still coming', () => {
    const one = render({ vms: ['td'] });
    expect(one).not.toContain('surface-card-ordinary');
    expect(one).not.toMatch(/<h4>/);
    expect(text(render({ views: { ordinary: undefined, td: null } }))).toMatch(/Asking the lab….*No VMM runs td: the scenario makes its KVM calls itself/);
  });
});

describe('the view switch', () => {
  it('V toggles between the memory panels and the attack-surface view', () => {
    const store = createLabStore();
    const v = ACTIONS.find((a) => a.id === 'view')!;
    const key = new (class { key = 'v'; ctrlKey = false; metaKey = false; altKey = false; })() as unknown as KeyboardEvent;
    expect(v.keyTest(key)).toBe(true);
    v.perform({ store, client: null as unknown as LabClient });
    expect(store.getState().view).toBe('surface');
    v.perform({ store, client: null as unknown as LabClient });
    expect(store.getState().view).toBe('memory');
  });
});
