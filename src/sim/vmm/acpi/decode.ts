/**
 * Reads the ACPI tables the way an OS finds them (RSDP → XSDT, or RSDT for a revision 0 RSDP →
 * each table; the FADT leads to the FACS and the DSDT), verifies their checksums and turns them
 * into the AcpiTableView trees the UI shows. The fields a guest acts on are parsed by the guest's own
 * parsers (guest/kernel/boot-acpi.ts), so the tree shows what the guest reads.
 * Field names are the ACPI 6.5 specification's (§5.2.5 RSDP, §5.2.9 FADT, §5.2.12 MADT).
 */
import { hex } from '../../core/units';
import { parseFadt, parseMadt, parseMcfg, rootEntries, type MadtEntry } from '../../guest/kernel/boot-acpi';
import type { AcpiNode, AcpiTableView } from '../surface-view';
import { eisaIdString } from './aml';
import { parseAml, type AmlTerm, type AmlValue } from './aml-parse';
import { byteSum, readAscii, readLe, readLe64 } from './bytes';
import { ACPI_TABLE_HEADER_SIZE, MADT_PCAT_COMPAT, MADT_TYPE_NAMES } from './madt';
import { decodeResources, describeResource } from './resources';

export type ReadGuest = (gpa: number, len: number) => Uint8Array | null;

export interface DecodedAcpi {
  /** RSDP first, then the root table, then every table it lists (FACS and DSDT after the FADT). */
  tables: AcpiTableView[];
  /** Why something could not be read (unreadable memory, a bad signature); empty when all went well. */
  errors: string[];
}

const FADT_FLAG_NAMES = [
  'WBINVD', 'WBINVD_FLUSH', 'PROC_C1', 'P_LVL2_UP', 'PWR_BUTTON', 'SLP_BUTTON', 'FIX_RTC', 'RTC_S4', 'TMR_VAL_EXT',
  'DCK_CAP', 'RESET_REG_SUP', 'SEALED_CASE', 'HEADLESS', 'CPU_SW_SLP', 'PCI_EXP_WAK', 'USE_PLATFORM_CLOCK',
  'S4_RTC_STS_VALID', 'REMOTE_POWER_ON_CAPABLE', 'FORCE_APIC_CLUSTER_MODEL', 'FORCE_APIC_PHYSICAL_DESTINATION_MODE',
  'HW_REDUCED_ACPI', 'LOW_POWER_S0_IDLE_CAPABLE',
];
/** §5.2.9.3 IA-PC Boot Architecture Flags, bit by bit. */
const IAPC_BOOT_ARCH_NAMES = ['LEGACY_DEVICES', '8042', 'VGA Not Present', 'MSI Not Supported', 'PCIe ASPM Controls',
  'CMOS RTC Not Present'];
const GAS_SPACES: Record<number, string> = { 0: 'SystemMemory', 1: 'SystemIO', 2: 'PCI Configuration' };

const node = (label: string, value?: string | number, children?: AcpiNode[]): AcpiNode => {
  const n: AcpiNode = { label };
  if (value !== undefined) n.value = typeof value === 'number' ? hex(value) : value;
  if (children) n.children = children;
  return n;
};

function headerNode(t: Uint8Array): AcpiNode {
  return node('Header', undefined, [
    node('Signature', readAscii(t, 0, 4)),
    node('Length', String(readLe(t, 4, 4))),
    node('Revision', String(t[8])),
    node('Checksum', t[9]),
    node('OEM ID', JSON.stringify(readAscii(t, 10, 6))),
    node('OEM Table ID', JSON.stringify(readAscii(t, 16, 8))),
    node('OEM Revision', readLe(t, 24, 4)),
    node('Creator ID', JSON.stringify(readAscii(t, 28, 4))),
    node('Creator Revision', readLe(t, 32, 4)),
  ]);
}

function gasText(t: Uint8Array, o: number): string {
  const address = readLe64(t, o + 4);
  if (address === 0n && t[o] === 0 && t[o + 1] === 0) return 'none';
  return `${GAS_SPACES[t[o]] ?? `space ${t[o]}`} ${hex(address)} (${t[o + 1]} bits)`;
}

function bitNodes(value: number, names: string[]): AcpiNode[] {
  return names.map((n, bit) => node(`bit ${bit} ${n}`, value & (1 << bit) ? 'yes' : 'no'));
}

/** MPS INTI flags (§5.2.12.5): polarity bits 1-0, trigger mode bits 3-2. */
function intiFlags(flags: number): string {
  const polarity = ['conforms', 'active high', 'reserved', 'active low'][flags & 3];
  const trigger = ['conforms', 'edge', 'reserved', 'level'][(flags >> 2) & 3];
  return `${hex(flags)} (polarity ${polarity}, trigger ${trigger})`;
}

function madtEntryNode(e: MadtEntry): AcpiNode {
  const code = { lapic: 0, x2apic: 9, ioapic: 1, override: 2, 'lapic-nmi': 4, 'x2apic-nmi': 0xa, 'mp-wakeup': 0x10 };
  const typeCode = e.type === 'other' ? e.code : code[e.type];
  const label = `${MADT_TYPE_NAMES[typeCode] ?? 'Reserved'} (type ${hex(typeCode)})`;
  switch (e.type) {
    case 'lapic':
      return node(label, `UID ${e.processorId}, APIC ID ${e.apicId}${e.enabled ? ', enabled' : ''}`, [
        node('ACPI Processor UID', String(e.processorId)), node('APIC ID', String(e.apicId)),
        node('Flags', e.enabled ? '0x1 (Enabled)' : '0x0'),
      ]);
    case 'x2apic':
      return node(label, `UID ${e.uid}, x2APIC ID ${e.apicId}${e.enabled ? ', enabled' : ''}`, [
        node('X2APIC ID', String(e.apicId)), node('Flags', e.enabled ? '0x1 (Enabled)' : '0x0'),
        node('ACPI Processor UID', String(e.uid)),
      ]);
    case 'ioapic':
      return node(label, `ID ${e.id} at ${hex(e.address)}, GSI base ${e.gsiBase}`, [
        node('I/O APIC ID', String(e.id)), node('I/O APIC Address', e.address),
        node('Global System Interrupt Base', String(e.gsiBase)),
      ]);
    case 'override':
      return node(label, `IRQ ${e.source} → GSI ${e.gsi}, flags ${hex(e.flags)}`, [
        node('Bus', e.bus === 0 ? '0 (ISA)' : String(e.bus)), node('Source', String(e.source)),
        node('Global System Interrupt', String(e.gsi)), node('Flags', intiFlags(e.flags)),
      ]);
    case 'lapic-nmi':
      return node(label, `UID ${e.processorId === 0xff ? 'all' : e.processorId}, LINT${e.lint}`, [
        node('ACPI Processor UID', e.processorId === 0xff ? '0xff (all processors)' : String(e.processorId)),
        node('Flags', intiFlags(e.flags)), node('Local APIC LINT#', String(e.lint)),
      ]);
    case 'x2apic-nmi':
      return node(label, `UID ${e.uid === 0xffffffff ? 'all' : e.uid}, LINT${e.lint}`, [
        node('Flags', intiFlags(e.flags)),
        node('ACPI Processor UID', e.uid === 0xffffffff ? '0xffffffff (all processors)' : String(e.uid)),
        node('Local x2APIC LINT#', String(e.lint)),
      ]);
    case 'mp-wakeup':
      return node(label, `mailbox ${hex(e.mailbox)}`, [
        node('MailBoxVersion', String(e.version)), node('MailBoxAddress', hex(e.mailbox)),
      ]);
    case 'other':
      return node(label, `${e.length} bytes`);
  }
}

function fadtNodes(t: Uint8Array): AcpiNode[] {
  const u = (o: number, size: number): number => (o + size <= t.length ? readLe(t, o, size) : 0);
  const out: AcpiNode[] = [
    node('FIRMWARE_CTRL', u(36, 4)), node('DSDT', u(40, 4)),
    node('Preferred_PM_Profile', String(t[45] ?? 0)),
    node('SCI_INT', String(u(46, 2))), node('SMI_CMD', u(48, 4)),
    node('ACPI_ENABLE', u(52, 1)), node('ACPI_DISABLE', u(53, 1)),
    node('PM1a_EVT_BLK', u(56, 4)), node('PM1a_CNT_BLK', u(64, 4)), node('PM_TMR_BLK', u(76, 4)),
    node('GPE0_BLK', u(80, 4)),
    node('PM1_EVT_LEN', String(u(88, 1))), node('PM1_CNT_LEN', String(u(89, 1))),
    node('PM_TMR_LEN', String(u(91, 1))), node('GPE0_BLK_LEN', String(u(92, 1))),
    node('P_LVL2_LAT', u(96, 2)), node('P_LVL3_LAT', u(98, 2)),
    node('CENTURY', u(108, 1)),
  ];
  const boot = u(109, 2);
  out.push(node('IAPC_BOOT_ARCH', boot, bitNodes(boot, IAPC_BOOT_ARCH_NAMES)));
  const flags = u(112, 4);
  out.push(node('Flags', flags, FADT_FLAG_NAMES.flatMap((n, bit) => (flags & (1 << bit) ? [node(`bit ${bit}`, n)] : []))));
  if (t.length >= 129) {
    out.push(node('RESET_REG', gasText(t, 116)), node('RESET_VALUE', t[128]));
  }
  if (t.length >= 244) {
    out.push(
      node('X_FIRMWARE_CTRL', hex(readLe64(t, 132))), node('X_DSDT', hex(readLe64(t, 140))),
      node('X_PM1a_EVT_BLK', gasText(t, 148)), node('X_PM1a_CNT_BLK', gasText(t, 172)),
      node('X_PM_TMR_BLK', gasText(t, 208)), node('X_GPE0_BLK', gasText(t, 220)),
    );
  }
  return out;
}

function valueText(v: AmlValue): string {
  switch (v.kind) {
    case 'int': return hex(v.value);
    case 'string': return JSON.stringify(v.value);
    case 'buffer': return `Buffer (${v.bytes.length} bytes)`;
    case 'package': return `Package (${v.elements} elements)`;
    case 'other': return `opcode ${hex(v.opcode)}`;
  }
}

/** _HID / _CID: an EISA id integer ("PNP0501") or a string ("MSFT0101"). */
function idText(v: AmlValue): string {
  if (v.kind === 'int') return eisaIdString(v.value);
  if (v.kind === 'string') return v.value;
  return valueText(v);
}

interface DsdtDevice {
  path: string;
  names: Map<string, AmlValue>;
}

function resolve(scope: string[], name: string): string[] {
  if (name.startsWith('\\')) return name.slice(1).split('.').filter((s) => s !== '');
  const base = [...scope];
  let rest = name;
  while (rest.startsWith('^')) {
    base.pop();
    rest = rest.slice(1);
  }
  return [...base, ...rest.split('.').filter((s) => s !== '')];
}

function collectDevices(terms: AmlTerm[], scope: string[], out: DsdtDevice[], unparsed: number[]): void {
  for (const t of terms) {
    if (t.kind === 'scope') collectDevices(t.terms, resolve(scope, t.name), out, unparsed);
    else if (t.kind === 'device') {
      const path = resolve(scope, t.name);
      const names = new Map<string, AmlValue>();
      for (const c of t.terms) if (c.kind === 'name') names.set(c.name, c.value);
      out.push({ path: '\\' + path.join('.'), names });
      collectDevices(t.terms, path, out, unparsed);
    } else if (t.kind === 'unparsed') unparsed.push(t.offset);
  }
}

function dsdtDeviceNode(d: DsdtDevice): AcpiNode {
  const hid = d.names.get('_HID');
  const children: AcpiNode[] = [];
  for (const [name, v] of d.names) {
    if (name === '_CRS' && v.kind === 'buffer') {
      const { resources } = decodeResources(v.bytes);
      children.push(node('_CRS', `${resources.length} resources`, resources.map((r) => node(describeResource(r)))));
    } else if (name === '_HID' || name === '_CID') {
      children.push(node(name, idText(v)));
    } else {
      children.push(node(name, valueText(v)));
    }
  }
  return node(`Device ${d.path}`, hid ? idText(hid) : undefined, children);
}

function tableView(signature: string, gpa: number, t: Uint8Array, checksumOk: boolean, tree: AcpiNode[]): AcpiTableView {
  return { signature, address: hex(gpa), length: t.length, checksumOk, change: 'same', tree };
}

function decodeTable(t: Uint8Array, gpa: number): AcpiTableView {
  const sig = readAscii(t, 0, 4);
  const ok = byteSum(t) === 0;
  const hdr = headerNode(t);
  switch (sig) {
    case 'APIC': {
      const madt = parseMadt(t);
      return tableView(sig, gpa, t, ok, [hdr,
        node('Local Interrupt Controller Address', madt.lapicAddress),
        node('Flags', madt.flags, [node('bit 0 PCAT_COMPAT', madt.flags & MADT_PCAT_COMPAT ? 'yes' : 'no')]),
        ...madt.entries.map(madtEntryNode)]);
    }
    case 'FACP':
      return tableView(sig, gpa, t, ok, [hdr, ...fadtNodes(t)]);
    case 'DSDT':
    case 'SSDT': {
      const devices: DsdtDevice[] = [];
      const unparsed: number[] = [];
      collectDevices(parseAml(t.subarray(ACPI_TABLE_HEADER_SIZE)), [], devices, unparsed);
      const tree = [hdr, node('Devices', String(devices.length), devices.map(dsdtDeviceNode))];
      if (unparsed.length) tree.push(node('Unparsed AML at', unparsed.map((o) => hex(o + ACPI_TABLE_HEADER_SIZE)).join(', ')));
      return tableView(sig, gpa, t, ok, tree);
    }
    case 'MCFG': {
      const allocs = parseMcfg(t).map((a, i) => node(`Allocation ${i}`, `${hex(a.base)} segment ${a.segment} buses ${a.startBus}-${a.endBus}`, [
        node('Base Address', a.base), node('PCI Segment Group Number', String(a.segment)),
        node('Start Bus Number', String(a.startBus)), node('End Bus Number', String(a.endBus)),
      ]));
      return tableView(sig, gpa, t, ok, [hdr, ...allocs]);
    }
    case 'HPET': {
      const id = readLe(t, 36, 4);
      return tableView(sig, gpa, t, ok, [hdr,
          node('Event Timer Block ID', id, [
            node('Hardware Rev ID', String(id & 0xff)),
            node('Number of Comparators in 1st Timer Block', `${(id >> 8) & 0x1f} (last timer index)`),
            node('COUNT_SIZE_CAP counter size', id & (1 << 13) ? '64-bit' : '32-bit'),
            node('LegacyReplacement IRQ Routing Capable', id & (1 << 15) ? 'yes' : 'no'),
            node('PCI Vendor ID', hex(id >>> 16)),
          ]),
          node('BASE_ADDRESS', gasText(t, 40)), node('HPET Number', String(t[52])),
          node('Main Counter Minimum Clock_tick in Periodic Mode', String(readLe(t, 53, 2))),
          node('Page Protection and OEM Attribute', t[55])]);
    }
    case 'TPM2':
      return tableView(sig, gpa, t, ok, [hdr, node('Platform Class', String(readLe(t, 36, 2))),
        node('Address of CRB Control Area', hex(readLe64(t, 40))), node('Start Method', String(readLe(t, 48, 4))),
        ...(t.length >= 76 ? [node('Log Area Minimum Length', readLe(t, 64, 4)),
          node('Log Area Start Address', hex(readLe64(t, 68)))] : [])]);
    case 'WAET': {
      const flags = readLe(t, 36, 4);
      return tableView(sig, gpa, t, ok, [hdr, node('Emulated Device Flags', flags,
        bitNodes(flags, ['RTC good', 'ACPI PM timer good']))]);
    }
    case 'XSDT':
    case 'RSDT':
      return tableView(sig, gpa, t, ok, [hdr, ...rootEntries(t).map((a, i) => node(`Entry ${i}`, sig === 'XSDT' ? hex(a) : a))]);
    default:
      return tableView(sig, gpa, t, ok, [hdr]);
  }
}

/** Follows the RSDP at `rsdpGpa` through guest memory and decodes every table it reaches. */
export function decodeTables(read: ReadGuest, rsdpGpa: number): DecodedAcpi {
  const errors: string[] = [];
  const tables: AcpiTableView[] = [];
  /** Reads a table with a standard header: its Length says how much to read. */
  const readTable = (gpa: number, what: string): Uint8Array | null => {
    const hdr = read(gpa, ACPI_TABLE_HEADER_SIZE);
    if (!hdr || hdr.length < ACPI_TABLE_HEADER_SIZE) {
      errors.push(`${what} at ${hex(gpa)}: memory not readable`);
      return null;
    }
    const length = readLe(hdr, 4, 4);
    if (length < ACPI_TABLE_HEADER_SIZE || length > 1 << 24) {
      errors.push(`${what} at ${hex(gpa)}: implausible length ${length}`);
      return null;
    }
    const t = read(gpa, length);
    if (!t) errors.push(`${what} at ${hex(gpa)}: memory not readable`);
    return t;
  };

  const rsdp = read(rsdpGpa, 36) ?? read(rsdpGpa, 20);
  if (!rsdp || readAscii(rsdp, 0, 8) !== 'RSD PTR ') {
    errors.push(`no RSDP signature "RSD PTR " at ${hex(rsdpGpa)}`);
    return { tables, errors };
  }
  const revision = rsdp[15];
  const rsdpLength = revision >= 2 && rsdp.length >= 36 ? readLe(rsdp, 20, 4) : 20;
  const rsdtAddress = readLe(rsdp, 16, 4);
  const xsdtAddress = revision >= 2 && rsdp.length >= 36 ? Number(readLe64(rsdp, 24)) : 0;
  const rsdpOk = byteSum(rsdp, 0, 20) === 0 && (rsdpLength === 20 || byteSum(rsdp, 0, Math.min(rsdpLength, rsdp.length)) === 0);
  const rsdpTree = [
    node('Signature', JSON.stringify('RSD PTR ')), node('Checksum', rsdp[8]),
    node('OEMID', JSON.stringify(readAscii(rsdp, 9, 6))), node('Revision', String(revision)),
    node('RsdtAddress', rsdtAddress),
  ];
  if (revision >= 2) {
    rsdpTree.push(node('Length', String(rsdpLength)), node('XsdtAddress', xsdtAddress),
      node('Extended Checksum', rsdp[32]));
  }
  tables.push({ signature: 'RSDP', address: hex(rsdpGpa), length: rsdpLength, checksumOk: rsdpOk, change: 'same',
    tree: rsdpTree });

  const rootGpa = xsdtAddress || rsdtAddress;
  const root = rootGpa ? readTable(rootGpa, xsdtAddress ? 'XSDT' : 'RSDT') : null;
  if (!root) {
    if (!rootGpa) errors.push('the RSDP points to neither an XSDT nor an RSDT');
    return { tables, errors };
  }
  tables.push(decodeTable(root, rootGpa));
  for (const [i, gpa] of rootEntries(root).entries()) {
    const t = readTable(gpa, `table ${i}`);
    if (!t) continue;
    tables.push(decodeTable(t, gpa));
    if (readAscii(t, 0, 4) !== 'FACP') continue;
    // The FADT leads to the FACS (no header, no checksum) and to the DSDT; the 64-bit X_ fields win.
    const fadt = parseFadt(t);
    const facsGpa = fadt.facs;
    const facs = facsGpa ? read(facsGpa, 64) : null;
    if (facs && readAscii(facs, 0, 4) === 'FACS') {
      tables.push(tableView('FACS', facsGpa, facs, true, [
        node('Signature', JSON.stringify('FACS')), node('Length', String(readLe(facs, 4, 4))),
        node('Hardware Signature', readLe(facs, 8, 4)), node('Firmware Waking Vector', readLe(facs, 12, 4)),
        node('Global Lock', readLe(facs, 16, 4)), node('Flags', readLe(facs, 20, 4)),
      ]));
    } else if (facsGpa) errors.push(`no FACS at ${hex(facsGpa)}`);
    const dsdtGpa = fadt.dsdt;
    const dsdt = dsdtGpa ? readTable(dsdtGpa, 'DSDT') : null;
    if (dsdt) tables.push(decodeTable(dsdt, dsdtGpa));
  }
  for (const v of tables) {
    if (!v.checksumOk) errors.push(`${v.signature} at ${v.address}: checksum does not sum to 0`);
  }
  return { tables, errors };
}

function stripChanged(nodes: AcpiNode[]): AcpiNode[] {
  return nodes.map((n) => {
    const c: AcpiNode = { label: n.label };
    if (n.value !== undefined) c.value = n.value;
    if (n.children) c.children = stripChanged(n.children);
    return c;
  });
}

/** The value a node that disappeared keeps (diffTables). */
const REMOVED = 'removed';

/** Nodes are matched by label and, among equal labels, by order (the third ISO with the third ISO). */
function diffNodes(prevNodes: AcpiNode[], next: AcpiNode[]): { nodes: AcpiNode[]; changed: boolean } {
  // Removal markers from the previous comparison describe that boot's changes, not its contents.
  const prev = prevNodes.filter((n) => !(n.changed && n.value === REMOVED));
  const key = (list: AcpiNode[]): string[] => {
    const seen = new Map<string, number>();
    return list.map((n) => {
      const i = seen.get(n.label) ?? 0;
      seen.set(n.label, i + 1);
      return `${n.label}\u0000${i}`;
    });
  };
  const prevKeys = key(prev);
  const prevByKey = new Map(prevKeys.map((k, i) => [k, prev[i]]));
  const nextKeyList = key(next);
  const nextKeys = new Set(nextKeyList);
  let changed = false;
  const nodes = next.map((n, i): AcpiNode => {
    const p = prevByKey.get(nextKeyList[i]);
    const out: AcpiNode = { label: n.label };
    if (n.value !== undefined) out.value = n.value;
    if (!p || p.value !== n.value) {
      out.changed = true;
      changed = true;
    }
    if (n.children) {
      const sub = diffNodes(p?.children ?? [], n.children);
      out.children = p ? sub.nodes : stripChanged(n.children);
      changed ||= sub.changed;
    }
    return out;
  });
  prevKeys.forEach((k, i) => {
    if (nextKeys.has(k)) return;
    changed = true;
    nodes.push({ label: prev[i].label, value: REMOVED, changed: true });
  });
  return { nodes, changed };
}

/**
 * Compares this boot's tables with the previous boot's. A table is 'new', 'removed' (kept, so the UI
 * can strike it out), 'changed' (some node differs, including its length or checksum) or 'same';
 * addresses alone do not count, since a table moves whenever one before it grows. Inside a changed
 * table every node whose value differs, and every new node, has `changed: true`; a node that
 * disappeared is kept with the value 'removed'. With no previous boot every table is 'same'.
 */
export function diffTables(prev: AcpiTableView[] | null, next: AcpiTableView[]): AcpiTableView[] {
  if (!prev) return next.map((t) => ({ ...t, change: 'same', tree: stripChanged(t.tree) }));
  const live = prev.filter((t) => t.change !== 'removed');
  const occurrence = (list: AcpiTableView[]): string[] => {
    const seen = new Map<string, number>();
    return list.map((t) => {
      const i = seen.get(t.signature) ?? 0;
      seen.set(t.signature, i + 1);
      return `${t.signature}#${i}`;
    });
  };
  const prevKeys = occurrence(live);
  const prevByKey = new Map(prevKeys.map((k, i) => [k, live[i]]));
  const nextKeys = occurrence(next);
  const out: AcpiTableView[] = next.map((t, i) => {
    const p = prevByKey.get(nextKeys[i]);
    if (!p) return { ...t, change: 'new', tree: stripChanged(t.tree) };
    const d = diffNodes(p.tree, t.tree);
    return { ...t, change: d.changed || p.length !== t.length ? 'changed' : 'same', tree: d.nodes };
  });
  const nextSet = new Set(nextKeys);
  prevKeys.forEach((k, i) => {
    if (!nextSet.has(k)) out.push({ ...live[i], change: 'removed', tree: stripChanged(live[i].tree) });
  });
  return out;
}
