import { renderToString } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { PostcopyView } from '../../../sim/lab';
import { PostcopySection } from './FaultTimeline';
import { QueryMigrateTable } from './QueryMigrateTable';
import { RoundsChart } from './RoundsChart';

const MiB = 1024 * 1024;
const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&#x27;/g, "'").replace(/\s+/g, ' ');

describe('the migration panel parts', () => {
  it('query-migrate: every field with its value, a progress bar while there is RAM to send, absent fields as a dash', () => {
    const html = renderToString(<QueryMigrateTable info={{ status: 'active', 'total-time': 900, ram: { total: 64 * MiB, remaining: 16 * MiB, transferred: 50 * MiB, 'dirty-sync-count': 3 } }} />);
    const t = text(html);
    expect(t).toContain('status');
    expect(t).toMatch(/ram\.dirty-sync-count[^0-9]*3/);
    expect(t).toContain('900 ms');
    expect(t).toContain('16.0 MiB (16,777,216 bytes) of 64.0 MiB still to send');
    expect(html).toContain('aria-valuenow="25"');
    expect(t).toMatch(/downtime : Once completed[^—]*—/);
    expect(renderToString(<QueryMigrateTable info={{ status: 'setup' }} />)).not.toContain('progressbar');
  });

  it('rounds: a bar per round named for screen readers, the threshold and the remaining line', () => {
    const r = (round: number, bytes: number, remaining: number, final = false) => ({ round, bytes, pages: bytes / 4096, dirty_pages: remaining / 4096, remaining, threshold: 40 * MiB, throttle_pct: 0, final, duration_ns: 1e8 });
    const html = renderToString(<RoundsChart rounds={[r(0, 256 * MiB, 64 * MiB), r(1, 64 * MiB, 16 * MiB), r(2, 16 * MiB, 0, true)]} />);
    expect(html.match(/<rect/g)).toHaveLength(3);
    expect(html).toContain('mig-bar final');
    expect(html).toContain('mig-threshold');
    expect(html).toContain('mig-remaining');
    expect(html).toContain('aria-label="3 rounds: Round 0: 256.0 MiB sent');
    expect(renderToString(<RoundsChart rounds={[]} />)).toContain('No rounds yet');
    // The rate and downtime panels: two lines and a rule, each named; the round count.
    expect(html).toContain('mig-series dirty');
    expect(html).toContain('mig-series send');
    expect(html).toContain('mig-series expected');
    expect(html).toContain('mig-rule');
    expect(text(html)).toContain('3 rounds');
  });

  it('a capped tail of rounds says which rounds of how many it shows, and the throttle over its bars', () => {
    const r = (round: number) => ({ round, bytes: MiB, pages: 256, dirty_pages: 200, remaining: MiB, threshold: 40 * MiB, throttle_pct: round > 45 ? 30 : 0, final: false, duration_ns: 1e8 });
    const html = renderToString(<RoundsChart rounds={Array.from({ length: 40 }, (_, i) => r(i + 10))} roundCount={50} width={800} />);
    expect(text(html)).toContain('rounds 10–49 of 50');
    expect(html.match(/class="mig-throttle"/g)).toHaveLength(4);
    expect(text(html)).toContain('auto-converge throttle');
  });

  const ms = 1e6;
  const pc = (over: Partial<PostcopyView> = {}): PostcopyView => ({
    destination: { status: 'postcopy-active', 'postcopy-blocktime': 12, 'postcopy-vcpu-blocktime': [7, 9], 'postcopy-latency': 1_250_000, 'postcopy-vcpu-latency': [900_000, 1_600_000] },
    phase: 'running', counts: { faults: 3, requests: 2, placedFault: 2, placedBackground: 500, zero: 40, discarded: 10 }, received: 7000, npages: 8192,
    startNs: 1000 * ms, runNs: 1002 * ms, preempt: false, blocktime: true, nvcpus: 2, mechanism: 'userfaultfd',
    faults: { vcpu: [0, 1, 0], page: [0x10, 0x20, 0x30], start: [1003 * ms, 1004 * ms, 1010 * ms], end: [1005 * ms, 1008 * ms, -1], how: [0, 1, 2] },
    faultsFrom: 0, faultCount: 3, blockedSince: [1010 * ms, -1], blockedPage: [0x30, -1],
    ...over,
  });

  it('post-copy: a bar per fault (hairlines between them), coloured by how it was served, a row per vCPU, blocktime and latency with units, the counters', () => {
    const html = renderToString(<PostcopySection pc={pc()} now={1012 * ms} theme="light" width={700} />);
    const t = text(html);
    // The bars of one kind are one path: data-count says how many it draws; three faults, one waiting.
    const counts = (h: string, cls: RegExp) => [...h.matchAll(/<path[^>]*class="(pc-bar[^"]*)"[^>]*data-count="(\d+)"/g)].filter((m) => cls.test(m[1])).reduce((a, m) => a + Number(m[2]), 0);
    expect(html).toContain('data-bars="3"');
    expect(html).toContain('data-waiting="1"');
    expect(counts(html, /^pc-bar/)).toBe(3);
    expect(counts(html, /^pc-bar waiting sep$/)).toBe(1);
    // Each bar is a rectangle of its path: three subpaths in all.
    expect([...html.matchAll(/<path[^>]*class="pc-bar[^"]*"[^>]*>/g)].map((m) => m[0].match(/M/g)!.length).reduce((a, b) => a + b, 0)).toBe(3);
    // A bar narrower than 6 px has no hairline (it would wash out its colour).
    const thin = renderToString(<PostcopySection pc={pc()} now={3000 * ms} theme="light" width={700} />);
    expect(counts(thin, /sep/)).toBe(1);
    expect(html).toContain('fill="#d55e00"');
    expect(html).toContain('data-how="2"');
    expect(t).toContain('vCPU 0');
    expect(t).toContain('vCPU 1');
    expect(html).toContain('class="pc-all-blocked"');
    expect(t).toContain('3 faults, 1 waiting now');
    expect(t).toContain('Newest: Fault 3: vCPU 0 touched page 0x30; waiting for 2 ms so far; arrived meanwhile');
    expect(t).toMatch(/postcopy-blocktime 12 ms/);
    expect(t).toMatch(/postcopy-vcpu-blocktime 7 ms · 9 ms/);
    expect(t).toMatch(/postcopy-latency 1.25 ms/);
    expect(t).toMatch(/postcopy-vcpu-latency 900 µs · 1.6 ms/);
    expect(t).toMatch(/placed in the background [^0-9]*500/);
    for (const l of ['requested', 'already on its way', 'arrived meanwhile', 'all vCPUs blocked']) expect(t).toContain(l);
    expect(t).not.toContain('turn on');
  });

  it('post-copy names what catches the faults, the proposals marked as not upstream', () => {
    expect(text(renderToString(<PostcopySection pc={pc()} now={1012 * ms} theme="light" width={700} />))).toContain('faults caught by userfaultfd');
    expect(text(renderToString(<PostcopySection pc={pc({ mechanism: 'talk' })} now={1012 * ms} theme="light" width={700} />))).toContain("the talk's proposal, not upstream");
    expect(text(renderToString(<PostcopySection pc={pc({ mechanism: 'kvm-userfault' })} now={1012 * ms} theme="light" width={700} />))).toContain('KVM Userfault (posted, not merged)');
  });

  it('post-copy without postcopy-blocktime says how to get it; before any fault, says so', () => {
    const off = text(renderToString(<PostcopySection pc={pc({ blocktime: false, destination: { status: 'postcopy-active' } })} now={1012 * ms} theme="dark" width={700} />));
    expect(off).toContain('turn on postcopy-blocktime');
    expect(off).not.toContain('postcopy-latency');
    const none = renderToString(<PostcopySection pc={pc({ faults: { vcpu: [], page: [], start: [], end: [], how: [] }, faultCount: 0, blockedSince: [-1, -1] })} now={1012 * ms} theme="light" width={700} />);
    expect(text(none)).toContain('No fault yet');
    expect(none).not.toContain('pc-bar');
  });
});
