/**
 * jsdom lays nothing out: give CodeMirror's measuring the empty rectangles a
 * hidden browser window would report, so a real EditorView runs in the tests.
 */
const empty = () => ({ x: 0, y: 0, top: 0, left: 0, right: 0, bottom: 0, width: 0, height: 0, toJSON() {} });
const ranges = Range.prototype as unknown as Record<string, unknown>;
ranges.getClientRects ??= () => [];
ranges.getBoundingClientRect ??= empty;
