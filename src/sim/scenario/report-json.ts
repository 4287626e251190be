/**
 * The report's text: how `npm run sim` prints a report and how the lab's Export saves one (the whole
 * report, or the trace panel's events in the report's shape), so a file saved from the page reads
 * like the CLI's output. A leaf module (src/layering.ts VIEW_MODEL_MODULES): the page takes it through
 * view-model.ts without any simulator code.
 */

/** The report's `format` and `version` (docs/scenario-format.md, "The report"). */
export const REPORT_FORMAT = 'guest-memory-lab/report';
export const REPORT_VERSION = 2;

/** A report (or a part of one in its shape) as the CLI prints it: JSON indented by two spaces, one line per field. */
export function reportJson(report: object): string {
  return JSON.stringify(report, null, 2);
}
