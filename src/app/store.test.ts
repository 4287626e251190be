import { describe, expect, it } from 'vitest';
import type { FramePacket } from '../worker/protocol';
import { createLabStore, focusVm, primaryHost, secondHost, selectPage, setSideBySide } from './store';

/** A packet with these hosts and, on each, the VMs named (names repeat across hosts on purpose). */
const packet = (hosts: Record<string, string[]>): FramePacket => ({
  frame: {
    hosts: Object.keys(hosts).map((name) => ({ name, memory: 2 ** 30, frames: 2 ** 18, framesUsed: 1 })),
    vms: Object.entries(hosts).flatMap(([host, vms]) => vms.map((name) => ({ host, name }))),
  },
}) as unknown as FramePacket;

describe('the host view\'s hosts', () => {
  it('one host: it is the host view\'s, and side by side has nothing to show beside it', () => {
    const store = createLabStore({ packet: packet({ host0: ['vm'] }) });
    expect(primaryHost(store.getState())).toBe('host0');
    setSideBySide(store, true);
    expect(secondHost(store.getState())).toBe('');
  });

  it('follows the focused VM\'s host until a host is chosen', () => {
    const store = createLabStore({ packet: packet({ a: ['guest'], b: ['guest'] }) });
    expect(primaryHost(store.getState())).toBe('a');
    store.setState({ focusVm: { host: 'b', vm: 'guest' } });
    expect(primaryHost(store.getState())).toBe('b');
    store.setState({ focusHost: 'a' });
    expect(primaryHost(store.getState())).toBe('a');
  });

  it('a chosen host the frame no longer has falls back (a new scenario)', () => {
    const store = createLabStore({ packet: packet({ x: ['vm'] }), focusHost: 'gone', compareHost: 'gone2' });
    expect(primaryHost(store.getState())).toBe('x');
    expect(secondHost(store.getState())).toBe('');
  });

  it('side by side shows another host beside the first, the chosen one if asked, and never the same host twice', () => {
    const store = createLabStore({ packet: packet({ a: [], b: [], c: [] }) });
    setSideBySide(store, true);
    expect([primaryHost(store.getState()), secondHost(store.getState())]).toEqual(['a', 'b']);
    setSideBySide(store, true, 'c');
    expect([primaryHost(store.getState()), secondHost(store.getState())]).toEqual(['a', 'c']);
    setSideBySide(store, true, 'a');
    expect(secondHost(store.getState())).toBe('');
    setSideBySide(store, true, 'b');
    setSideBySide(store, false);
    expect([primaryHost(store.getState()), secondHost(store.getState())]).toEqual(['a', '']);
  });
});

describe('selection by {host, vm}', () => {
  it('selecting a page of the VM on the second host selects that VM, not its namesake, and shows its host', () => {
    const store = createLabStore({ packet: packet({ a: ['guest'], b: ['guest'] }) });
    selectPage(store, { host: 'b', vm: 'guest', gfn: 0x100 });
    const s = store.getState();
    expect(s.selection).toEqual({ host: 'b', vm: 'guest', gfn: 0x100 });
    expect(primaryHost(s)).toBe('b');
  });

  it('side by side, a page of the host shown beside keeps both hosts where they are', () => {
    const store = createLabStore({ packet: packet({ a: ['guest'], b: ['guest'] }) });
    setSideBySide(store, true);
    selectPage(store, { host: 'b', vm: 'guest', gfn: 1 });
    expect([primaryHost(store.getState()), secondHost(store.getState())]).toEqual(['a', 'b']);
    selectPage(store, { host: 'a', vm: 'guest', gfn: 2 });
    expect([primaryHost(store.getState()), secondHost(store.getState())]).toEqual(['a', 'b']);
  });

  it('focusing a VM makes its host the host view\'s', () => {
    const store = createLabStore({ packet: packet({ a: ['guest'], b: ['guest'] }) });
    focusVm(store, { host: 'b', vm: 'guest' });
    expect(store.getState().focusVm).toEqual({ host: 'b', vm: 'guest' });
    expect(primaryHost(store.getState())).toBe('b');
  });
});
