import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { SimEvent } from '../sim/core/trace';
import { LAYERS } from '../sim/view-model';
import { CSV_COLUMNS, csvField, fileBase, reportFile, slug, traceCsv, traceJson } from './export';
import { propertyRuns } from '../test-properties';

/** An RFC 4180 reader, written from the RFC: records end with CRLF; a quoted field may hold commas, quotes (doubled) and line breaks. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '', record: string[] = [], i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"' && field === '') {
      i++;
      for (;;) {
        if (i >= text.length) throw new Error('unterminated quoted field');
        if (text[i] === '"') {
          if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
          i++;
          break;
        }
        field += text[i++];
      }
      if (i < text.length && text[i] !== ',' && text[i] !== '\r') throw new Error(`text after a closing quote at ${i}`);
    } else if (c === ',') { record.push(field); field = ''; i++; }
    else if (c === '\r') {
      if (text[i + 1] !== '\n') throw new Error(`a CR without LF at ${i}`);
      record.push(field); records.push(record); record = []; field = ''; i += 2;
    } else if (c === '\n' || c === '"') throw new Error(`a bare ${JSON.stringify(c)} in an unquoted field at ${i}`);
    else { field += c; i++; }
  }
  if (field !== '' || record.length) throw new Error('the last record does not end with CRLF');
  return records;
}

const ev = (seq: number, over: Partial<SimEvent> = {}): SimEvent => ({
  seq, t: seq * 1250, host: 'host0', vm: 'td', vcpu: 0, layer: 'kvm', name: 'KVM_EXIT_MEMORY_FAULT',
  args: { gpa: '0x102000', flags: 8 }, text: 'KVM exits to user space: the guest touched private memory, "KVM_MEMORY_EXIT_FLAG_PRIVATE".', ...over,
});

describe('the trace as CSV (RFC 4180)', () => {
  it('quotes only the fields that need it, doubling quotes', () => {
    expect(csvField('KVM_RUN')).toBe('KVM_RUN');
    expect(csvField(12)).toBe('12');
    expect(csvField(null)).toBe('');
    expect(csvField('a, b')).toBe('"a, b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\r')).toBe('"cr\r"');
  });

  it('has a header row, one record per event, CRLF line ends, and reads back to the events', () => {
    const events = [ev(0), ev(1, { host: null, vm: null, vcpu: null, layer: 'link', name: 'link_send', args: {}, text: 'plain' }), ev(2, { gfns: [0x102, 3] })];
    const csv = traceCsv(events);
    expect(csv.startsWith('seq,t_ns,host,vm,vcpu,layer,name,text,args,gfn_first,gfn_count\r\n')).toBe(true);
    const rows = parseCsv(csv);
    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    expect(rows).toHaveLength(events.length + 1);
    expect(rows[1]).toEqual(['0', '0', 'host0', 'td', '0', 'kvm', 'KVM_EXIT_MEMORY_FAULT', events[0].text, '{"gpa":"0x102000","flags":8}', '', '']);
    expect(rows[2]).toEqual(['1', '1250', '', '', '', 'link', 'link_send', 'plain', '', '', '']);
    expect(rows[3].slice(9)).toEqual(['258', '3']);
  });

  it('any sentence and any arguments survive the round trip', () => {
    fc.assert(fc.property(fc.array(fc.record({ text: fc.string(), name: fc.string(), arg: fc.oneof(fc.string(), fc.integer()) }), { maxLength: 8 }), (xs) => {
      const events = xs.map((x, i) => ev(i, { text: x.text, name: x.name, args: { v: x.arg } }));
      const rows = parseCsv(traceCsv(events));
      expect(rows).toHaveLength(events.length + 1);
      rows.slice(1).forEach((r, i) => {
        expect(r).toHaveLength(CSV_COLUMNS.length);
        expect(r[6]).toBe(events[i].name);
        expect(r[7]).toBe(events[i].text);
        expect(JSON.parse(r[8])).toEqual(events[i].args);
      });
    }), propertyRuns(4180));
  });
});

describe('the trace as JSON', () => {
  it('is a report holding only its events, printed as the CLI prints a report', () => {
    const events = [ev(0), ev(1, { layer: LAYERS[0] })];
    const text = traceJson({ title: 'Sharing a buffer', seed: 7, notes: ['The trace panel listed 2 of 2 events.'] }, events);
    expect(text.endsWith('}\n')).toBe(true);
    expect(text).toBe(`${JSON.stringify(JSON.parse(text), null, 2)}\n`);
    expect(JSON.parse(text)).toEqual({ format: 'guest-memory-lab/report', version: 2, title: 'Sharing a buffer', seed: 7, notes: ['The trace panel listed 2 of 2 events.'], events });
  });

  it('a report file ends with one line break, as the CLI\'s stdout', () => {
    expect(reportFile('{}')).toBe('{}\n');
    expect(reportFile('{}\n')).toBe('{}\n');
  });
});

describe('file names', () => {
  it('start with the preset id, else the scenario\'s title', () => {
    expect(fileBase({ source: 'shared-buffer', scenario: { title: 'x' } })).toBe('shared-buffer');
    expect(fileBase({ source: 'imported: my.json', scenario: { title: 'My TD — lab #2!' } })).toBe('my-td-lab-2');
    expect(fileBase({ source: '', scenario: null })).toBe('untitled');
    expect(fileBase({ source: '', scenario: { title: '…' } })).toBe('lab');
    expect(slug('a'.repeat(59) + ' b')).toBe('a'.repeat(59));
  });
});
