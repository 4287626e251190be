/**
 * The guest program editor: CodeMirror 6 with the assembly highlighter, the next instruction's line
 * and the assembler's errors. A plain factory (as xyflow's behaviours are): React creates it once in
 * an effect, calls update() when props change and destroy() on unmount. This module is loaded lazily
 * so CodeMirror stays out of the initial bundle.
 */
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { syntaxHighlighting } from '@codemirror/language';
import { Compartment, EditorState, RangeSetBuilder, StateEffect, StateField } from '@codemirror/state';
import {
  Decoration, EditorView, drawSelection, highlightActiveLine, highlightSpecialChars, keymap, lineNumbers,
  type DecorationSet,
} from '@codemirror/view';
import { asmHighlight, asmLanguage } from './asm-language';

export interface AsmDiagnostic {
  line: number;
  column: number;
  message: string;
}

export interface AsmEditorOptions {
  doc: string;
  /** Accessible name of the text area, e.g. "Program of td". */
  label: string;
  /** Id of the element that lists the errors (aria-describedby). */
  describedBy?: string;
  onChange: (text: string) => void;
}

export interface AsmEditorProps {
  /** Which text this is (the VM's name): each keeps its own undo history and cursor. */
  key?: string;
  doc?: string;
  label?: string;
  /** 1-based line of the next instruction, or null. */
  nextLine?: number | null;
  /** Shown but not editable (a program that a scenario step loads, not the VM spec). */
  readOnly?: boolean;
  /** Errors for the current text (stale ones must not be passed). */
  diagnostics?: readonly AsmDiagnostic[];
}

export interface AsmEditor {
  update(props: AsmEditorProps): void;
  /** Put the cursor at a 1-based line and column and focus the editor (from the error list). */
  reveal(line: number, column: number): void;
  destroy(): void;
}

const setNextLine = StateEffect.define<number | null>();
const setDiagnostics = StateEffect.define<readonly AsmDiagnostic[]>();

const nextLineField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = deco.map(tr.changes);
    for (const e of tr.effects) {
      if (!e.is(setNextLine)) continue;
      const n = e.value;
      deco = n && n >= 1 && n <= tr.state.doc.lines
        ? Decoration.set([Decoration.line({ class: 'asm-next-line', attributes: { 'data-next': 'true' } }).range(tr.state.doc.line(n).from)])
        : Decoration.none;
    }
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

/** The error's token: from its column to the end of the word there (at least one character). */
function errorRange(state: EditorState, d: AsmDiagnostic): { from: number; to: number; lineFrom: number } | null {
  if (d.line < 1 || d.line > state.doc.lines) return null;
  const line = state.doc.line(d.line);
  const from = Math.min(line.to, line.from + Math.max(0, d.column - 1));
  let to = from;
  while (to < line.to && /[\w.$'"[\]]/.test(line.text[to - line.from])) to++;
  if (to === from) to = Math.min(line.to, from + 1);
  return { from, to, lineFrom: line.from };
}

const diagnosticsField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = deco.map(tr.changes);
    for (const e of tr.effects) {
      if (!e.is(setDiagnostics)) continue;
      // A RangeSetBuilder takes ranges in document order; a line decoration comes before a mark at the same place.
      const found = e.value
        .map((d) => ({ d, r: errorRange(tr.state, d) }))
        .filter((x): x is { d: AsmDiagnostic; r: NonNullable<ReturnType<typeof errorRange>> } => x.r !== null)
        .sort((a, b) => a.r.from - b.r.from);
      const b = new RangeSetBuilder<Decoration>();
      const lines = new Set<number>();
      for (const { d, r } of found) {
        const title = `line ${d.line}, column ${d.column}: ${d.message}`;
        if (!lines.has(r.lineFrom)) {
          lines.add(r.lineFrom);
          b.add(r.lineFrom, r.lineFrom, Decoration.line({ class: 'asm-error-line', attributes: { title } }));
        }
        if (r.to > r.from) b.add(r.from, r.to, Decoration.mark({ class: 'asm-error-mark', attributes: { title } }));
      }
      deco = b.finish();
    }
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

/** Colours from the app's theme variables, so the editor follows the light and dark themes. */
const theme = EditorView.theme({
  '&': { color: 'var(--fg)', backgroundColor: 'var(--bg)', fontSize: '0.9375rem', height: '100%' },
  '.cm-scroller': { fontFamily: "ui-monospace, 'DejaVu Sans Mono', Menlo, monospace", lineHeight: '1.45' },
  '.cm-content': { caretColor: 'var(--fg)' },
  '.cm-cursor, .cm-dropCursor': { borderLeftColor: 'var(--fg)', borderLeftWidth: '2px' },
  '&.cm-focused .cm-selectionBackground, .cm-selectionBackground, ::selection': {
    backgroundColor: 'color-mix(in srgb, var(--accent) 35%, transparent) !important',
  },
  '.cm-gutters': { backgroundColor: 'var(--panel)', color: 'var(--muted)', borderRight: '1px solid var(--border)' },
  '.cm-activeLine': { backgroundColor: 'color-mix(in srgb, var(--fg) 5%, transparent)' },
  '&.cm-focused': { outline: '3px solid var(--accent)', outlineOffset: '-3px' },
});

export function createAsmEditor(parent: HTMLElement, options: AsmEditorOptions): AsmEditor {
  let label = options.label;
  let key = '';
  /** Set while the text is replaced from outside, so that is not reported as the user's edit. */
  let applying = false;
  /**
   * The `doc` prop last seen, and the texts this editor reported through onChange that the prop has
   * not echoed back yet. React hands props over in an effect that can run after the user typed more
   * (on a busy machine a frame's render commits, a key is typed, then the effect runs): a `doc` that
   * differs from the editor's text is then only a late echo, never a reason to replace the text. Only
   * a `doc` that is new (neither the last one nor an echo of the user's own edit) comes from outside
   * (another scenario loaded, edits discarded). Replacing on every mismatch once lost keystrokes and
   * put the cursor at the start of the program in the middle of a word.
   */
  let lastDoc = options.doc;
  let reported: string[] = [];
  let nextLine: number | null = null;
  let diagnostics: readonly AsmDiagnostic[] = [];
  /** The editor state of each text not shown now (undo history, cursor). */
  const parked = new Map<string, EditorState>();
  const attrs = new Compartment();
  const lock = new Compartment();
  let readOnly = false;
  const contentAttrs = () => EditorView.contentAttributes.of({
    'aria-label': label,
    // Focusable in the eyes of checkers too (a contenteditable is, but axe looks for a tabindex).
    tabindex: '0',
    ...(options.describedBy ? { 'aria-describedby': options.describedBy } : {}),
  });

  const stateFor = (doc: string) => EditorState.create({
    doc,
    extensions: [
      lineNumbers(),
      highlightSpecialChars(),
      history(),
      drawSelection(),
      highlightActiveLine(),
      asmLanguage,
      syntaxHighlighting(asmHighlight),
      keymap.of([...defaultKeymap, ...historyKeymap]),
      nextLineField,
      diagnosticsField,
      theme,
      attrs.of(contentAttrs()),
      lock.of(EditorState.readOnly.of(readOnly)),
      EditorView.updateListener.of((u) => {
        if (u.docChanged && !applying) {
          const text = u.state.doc.toString();
          reported.push(text);
          if (reported.length > 256) reported = reported.slice(-128);
          options.onChange(text);
        }
        // The panel was resized or maximised: bring the next instruction back into sight.
        if (u.geometryChanged && !u.docChanged && nextLine) scrollToLine(nextLine);
      }),
    ],
  });

  const view = new EditorView({ parent, state: stateFor(options.doc) });

  /** Re-send the line and the errors (after the state was swapped or the text replaced). */
  const decorate = (scroll: boolean) => {
    view.dispatch({ effects: [setNextLine.of(nextLine), setDiagnostics.of(diagnostics)] });
    if (scroll && nextLine && nextLine <= view.state.doc.lines) scrollToLine(nextLine);
  };

  /**
   * Keep the next instruction in sight by scrolling the editor alone: EditorView.scrollIntoView
   * would also scroll the panel around it, every frame while the guest runs.
   */
  const scrollToLine = (n: number) => {
    view.requestMeasure({
      key: 'asm-next-line',
      read: (v) => {
        if (n > v.state.doc.lines) return null;
        const b = v.lineBlockAt(v.state.doc.line(n).from);
        return { top: b.top - b.height, bottom: b.bottom + b.height, at: v.scrollDOM.scrollTop, height: v.scrollDOM.clientHeight };
      },
      write: (m, v) => {
        if (!m) return;
        if (m.top < m.at) v.scrollDOM.scrollTop = Math.max(0, m.top);
        else if (m.bottom > m.at + m.height) v.scrollDOM.scrollTop = m.bottom - m.height;
      },
    });
  };

  return {
    update(p) {
      applying = true;
      try {
        let reset = false;
        if (p.label !== undefined && p.label !== label) {
          label = p.label;
          view.dispatch({ effects: attrs.reconfigure(contentAttrs()) });
        }
        if (p.key !== undefined && p.key !== key) {
          if (key) parked.set(key, view.state);
          key = p.key;
          const saved = parked.get(key);
          view.setState(saved && (p.doc === undefined || saved.doc.toString() === p.doc) ? saved : stateFor(p.doc ?? ''));
          view.dispatch({ effects: attrs.reconfigure(contentAttrs()) });
          lastDoc = view.state.doc.toString();
          reported = [];
          reset = true;
        }
        if (p.doc !== undefined && p.doc !== lastDoc) {
          lastDoc = p.doc;
          const echo = reported.lastIndexOf(p.doc);
          if (echo >= 0) {
            // The user's own edit coming back: the editor already has it (or newer text).
            reported = reported.slice(echo + 1);
          } else if (p.doc !== view.state.doc.toString()) {
            // Replaced from outside (another scenario loaded): a fresh state, so undo cannot bring back the old text.
            reported = [];
            view.setState(stateFor(p.doc));
            reset = true;
          }
        }
        if (p.readOnly !== undefined && p.readOnly !== readOnly) {
          readOnly = p.readOnly;
          view.dispatch({ effects: lock.reconfigure(EditorState.readOnly.of(readOnly)) });
        }
        const lineChanged = p.nextLine !== undefined && p.nextLine !== nextLine;
        if (p.nextLine !== undefined) nextLine = p.nextLine;
        const diagChanged = p.diagnostics !== undefined && p.diagnostics !== diagnostics;
        if (p.diagnostics !== undefined) diagnostics = p.diagnostics;
        if (reset || lineChanged || diagChanged) decorate(reset || lineChanged);
      } finally {
        applying = false;
      }
    },
    reveal(line, column) {
      if (line < 1 || line > view.state.doc.lines) return;
      const l = view.state.doc.line(line);
      const pos = Math.min(l.to, l.from + Math.max(0, column - 1));
      view.dispatch({ selection: { anchor: pos }, effects: EditorView.scrollIntoView(pos, { y: 'center' }) });
      view.focus();
    },
    destroy() {
      view.destroy();
    },
  };
}
