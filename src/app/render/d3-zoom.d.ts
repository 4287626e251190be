/**
 * Minimal types for the parts of d3-zoom and d3-selection the renderers use (the project has d3 but
 * not @types/d3). Only what is called is declared; see https://d3js.org/d3-zoom.
 */
declare module 'd3-selection' {
  export interface Selection<E extends Element> {
    call<A extends unknown[]>(f: (s: Selection<E>, ...args: A) => void, ...args: A): this;
    on(type: string, listener: null | ((event: Event) => void)): this;
    node(): E | null;
  }
  export function select<E extends Element>(node: E): Selection<E>;
}

declare module 'd3-zoom' {
  import type { Selection } from 'd3-selection';

  export interface ZoomTransform {
    readonly k: number;
    readonly x: number;
    readonly y: number;
    apply(p: [number, number]): [number, number];
    invert(p: [number, number]): [number, number];
    scale(k: number): ZoomTransform;
    translate(x: number, y: number): ZoomTransform;
  }
  export const zoomIdentity: ZoomTransform;
  export function zoomTransform(node: Element): ZoomTransform;

  export interface D3ZoomEvent {
    type: 'start' | 'zoom' | 'end';
    transform: ZoomTransform;
    sourceEvent: Event | null;
  }

  export interface ZoomBehavior<E extends Element> {
    (selection: Selection<E>): void;
    scaleExtent(extent: [number, number]): this;
    translateExtent(extent: [[number, number], [number, number]]): this;
    extent(extent: [[number, number], [number, number]]): this;
    filter(filter: (event: MouseEvent | WheelEvent | TouchEvent) => boolean): this;
    clickDistance(distance: number): this;
    on(type: string, listener: null | ((event: D3ZoomEvent) => void)): this;
    transform(selection: Selection<E>, transform: ZoomTransform, point?: [number, number]): void;
    scaleBy(selection: Selection<E>, k: number, point?: [number, number]): void;
    scaleTo(selection: Selection<E>, k: number, point?: [number, number]): void;
    translateTo(selection: Selection<E>, x: number, y: number, point?: [number, number]): void;
  }
  export function zoom<E extends Element>(): ZoomBehavior<E>;
}
