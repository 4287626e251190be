/**
 * The whole UI is sized in rem (app.css and the panels' CSS), so one setting scales it: the root
 * font size. Presenter mode sets it to PRESENT_SCALE × the browser's default (app.css,
 * `html[data-present]`): 21 px for the usual 16 px, which puts the smallest text (0.875rem) at
 * 18.4 px. Code that lays out in CSS px (the trace's row arithmetic) multiplies by uiScale().
 */
export const PRESENT_SCALE = 1.3125;

/** The root font size's factor over the default: PRESENT_SCALE in presenter mode, else 1. */
export const uiScale = (presenting: boolean): number => (presenting ? PRESENT_SCALE : 1);
