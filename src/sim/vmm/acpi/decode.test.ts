import { describe, expect, it } from 'vitest';
import type { AcpiNode, AcpiTableView } from '../surface-view';
import type { DeviceId } from '../devices/types';
import { appendMpWakeup, buildAcpi, q35AcpiMachine } from './build';
import { byteSum, readLe } from './bytes';
import { decodeTables, diffTables } from './decode';
import { ACPI_BUILD_TABLE_FILE } from './linker';
import { ACPI_MADT_MP_WAKEUP_SIZE } from './madt';
import { ALL_ACPI_DEVICES, acpiFacts, loadTables, without } from './test-support';

const boot = (devices: Iterable<DeviceId>, opts: { isTd?: boolean; mode?: 'upstream' | 'talk' } = {}) => {
  const t = loadTables(buildAcpi(q35AcpiMachine(new Set(devices), { isTd: opts.isTd ?? false, mode: opts.mode })));
  return { ...t, decoded: decodeTables(t.read, t.rsdpGpa) };
};
const find = (tables: AcpiTableView[], sig: string): AcpiTableView => {
  const t = tables.find((v) => v.signature === sig);
  if (!t) throw new Error(`no ${sig}`);
  return t;
};
const child = (nodes: AcpiNode[] | undefined, label: string): AcpiNode => {
  const n = nodes?.find((c) => c.label === label);
  if (!n) throw new Error(`no node ${label}`);
  return n;
};

describe('decodeTables', () => {
  it('follows RSDP → XSDT → tables, and the FADT to the FACS and the DSDT, with every checksum good', () => {
    const { decoded, rsdpGpa } = boot(ALL_ACPI_DEVICES);
    expect(decoded.errors).toEqual([]);
    expect(decoded.tables.map((t) => t.signature)).toEqual(
      ['RSDP', 'XSDT', 'FACP', 'FACS', 'DSDT', 'APIC', 'HPET', 'TPM2', 'MCFG', 'WAET']);
    expect(decoded.tables.every((t) => t.checksumOk)).toBe(true);
    expect(decoded.tables[0]).toMatchObject({ address: '0x' + rsdpGpa.toString(16), length: 36 });
    expect(acpiFacts(boot(ALL_ACPI_DEVICES).read, rsdpGpa)).toMatchObject({ pcatCompat: true, iapcBootArch: 2, hasHpet: true, hasMcfg: true, ecamBase: 0xb0000000 });
  });

  it('names FADT fields as the spec does and decodes IAPC_BOOT_ARCH bit by bit', () => {
    const fadt = find(boot(without('rtc'), { mode: 'talk' }).decoded.tables, 'FACP');
    expect(child(fadt.tree, 'SCI_INT').value).toBe('9');
    expect(child(fadt.tree, 'PM_TMR_BLK').value).toBe('0x608');
    expect(child(fadt.tree, 'RESET_REG').value).toBe('SystemIO 0xcf9 (8 bits)');
    const arch = child(fadt.tree, 'IAPC_BOOT_ARCH');
    expect(arch.value).toBe('0x27');
    expect(arch.children!.map((c) => `${c.label}=${c.value}`)).toEqual([
      'bit 0 LEGACY_DEVICES=yes', 'bit 1 8042=yes', 'bit 2 VGA Not Present=yes', 'bit 3 MSI Not Supported=no',
      'bit 4 PCIe ASPM Controls=no', 'bit 5 CMOS RTC Not Present=yes']);
    expect(child(fadt.tree, 'Flags').children!.map((c) => c.value)).toContain('RESET_REG_SUP');
  });

  it('labels MADT entries with their type names', () => {
    const madt = find(boot(without('pic', 'apm'), { isTd: true, mode: 'talk' }).decoded.tables, 'APIC');
    const labels = madt.tree.map((n) => n.label);
    expect(labels).toContain('Processor Local x2APIC (type 0x9)');
    expect(labels).toContain('Local x2APIC NMI (type 0xa)');
    expect(child(madt.tree, 'Flags').value).toBe('0x0');
    expect(child(madt.tree, 'Interrupt Source Override (type 0x2)').value).toBe('IRQ 0 → GSI 2, flags 0x0');
  });

  it('reports a table whose bytes no longer sum to 0', () => {
    const { read, rsdpGpa, poke } = boot(ALL_ACPI_DEVICES);
    const madt = decodeTables(read, rsdpGpa).tables.find((t) => t.signature === 'APIC')!;
    const gpa = Number(madt.address);
    poke(gpa + 40, 0); // clear PCAT_COMPAT without fixing the checksum
    const after = decodeTables(read, rsdpGpa);
    expect(find(after.tables, 'APIC').checksumOk).toBe(false);
    expect(after.errors).toEqual([`APIC at ${madt.address}: checksum does not sum to 0`]);
  });

  it('says why when the RSDP is not there', () => {
    const { read } = boot(ALL_ACPI_DEVICES);
    expect(decodeTables(read, 0x1000).errors).toEqual(['no RSDP signature "RSD PTR " at 0x1000']);
  });
});

describe('appendMpWakeup', () => {
  it('appends a version 0 Multiprocessor Wakeup Structure and fixes Length and Checksum', () => {
    const b = buildAcpi(q35AcpiMachine(without('pic', 'apm'), { isTd: true }));
    const { loaded } = loadTables(b);
    const l = b.layout.find((t) => t.signature === 'APIC')!;
    const madt = loaded.get(ACPI_BUILD_TABLE_FILE)!.bytes.slice(l.offset, l.offset + l.length);
    const withMailbox = appendMpWakeup(madt, 0x7e000000n);
    expect(withMailbox.length).toBe(madt.length + ACPI_MADT_MP_WAKEUP_SIZE);
    expect(readLe(withMailbox, 4, 4)).toBe(withMailbox.length);
    expect(byteSum(withMailbox)).toBe(0);
    expect(byteSum(madt)).toBe(0); // the input is not modified
    expect(Array.from(withMailbox.subarray(madt.length, madt.length + 4))).toEqual([0x10, 16, 0, 0]);
    // Decode it as a guest would after TDVF installed it.
    const decoded = decodeTables((gpa, len) => (gpa === 0x5000 ? withMailbox.slice(0, len)
      : gpa === 0x4000 ? rsdtFor(0x5000).slice(0, len) : gpa === 0xe0000 ? rsdpFor(0x4000).slice(0, len) : null), 0xe0000);
    expect(decoded.errors).toEqual([]);
    const apic = find(decoded.tables, 'APIC');
    expect(child(apic.tree, 'Multiprocessor Wakeup (type 0x10)').value).toBe('mailbox 0x7e000000');
    expect(child(child(apic.tree, 'Multiprocessor Wakeup (type 0x10)').children, 'MailBoxVersion').value).toBe('0');
  });
});

/** A revision 0 RSDP and an RSDT holding one table, to show the decoder also takes the 32-bit path. */
function rsdpFor(rsdt: number): Uint8Array {
  const r = new Uint8Array(20);
  r.set([...'RSD PTR '].map((c) => c.charCodeAt(0)));
  r[16] = rsdt & 0xff;
  r[17] = (rsdt >> 8) & 0xff;
  r[8] = (0x100 - byteSum(r)) & 0xff;
  return r;
}
function rsdtFor(table: number): Uint8Array {
  const r = new Uint8Array(40);
  r.set([...'RSDT'].map((c) => c.charCodeAt(0)));
  r[4] = 40;
  r[8] = 1;
  r[36] = table & 0xff;
  r[37] = (table >> 8) & 0xff;
  r[9] = (0x100 - byteSum(r)) & 0xff;
  return r;
}

describe('diffTables', () => {
  it('marks everything the same on the first boot', () => {
    const first = diffTables(null, boot(ALL_ACPI_DEVICES).decoded.tables);
    expect(first.every((t) => t.change === 'same')).toBe(true);
  });

  it('shows what switching devices off changed: a removed table, a removed DSDT device, a changed flag', () => {
    const before = diffTables(null, boot(ALL_ACPI_DEVICES, { mode: 'talk' }).decoded.tables);
    const after = diffTables(before, boot(without('hpet', 'com1', 'pic'), { mode: 'talk' }).decoded.tables);
    const change = Object.fromEntries(after.map((t) => [t.signature, t.change]));
    expect(change).toMatchObject({ HPET: 'removed', DSDT: 'changed', APIC: 'changed', XSDT: 'changed', MCFG: 'same',
      FACS: 'same' });
    const hpet = find(after, 'HPET');
    expect(hpet.tree.some((n) => n.changed)).toBe(false); // kept as it was, to be struck out
    const devices = child(find(after, 'DSDT').tree, 'Devices');
    expect(devices.changed).toBe(true); // 10 → 8 devices
    expect(child(devices.children, 'Device \\_SB.PCI0.ISA.COM1')).toEqual(
      { label: 'Device \\_SB.PCI0.ISA.COM1', value: 'removed', changed: true });
    expect(child(devices.children, 'Device \\_SB.PCI0.ISA.KBD').changed).toBeUndefined();
    const flags = child(find(after, 'APIC').tree, 'Flags');
    expect(flags.changed).toBe(true);
    expect(child(flags.children, 'bit 0 PCAT_COMPAT')).toEqual({ label: 'bit 0 PCAT_COMPAT', value: 'no', changed: true });
    expect(child(find(after, 'APIC').tree, 'Local Interrupt Controller Address').changed).toBeUndefined();
  });

  it('marks a table that appears as new and keeps removed tables out of the next comparison', () => {
    const a = diffTables(null, boot(without('hpet')).decoded.tables);
    const b = diffTables(a, boot(ALL_ACPI_DEVICES).decoded.tables);
    expect(find(b, 'HPET').change).toBe('new');
    const c = diffTables(b, boot(without('hpet')).decoded.tables);
    const d = diffTables(c, boot(without('hpet')).decoded.tables);
    expect(d.filter((t) => t.signature === 'HPET')).toEqual([]);
    expect(d.every((t) => t.change === 'same')).toBe(true);
  });
});
