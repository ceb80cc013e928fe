/**
 * The word-level diff the preview shows: which words of the original the
 * rewrite drops and which it brings in. Pure (jsdiff), no `obsidian` import.
 */
import { diffWordsWithSpace } from "diff";

export type SegmentKind = "same" | "removed" | "added";

export interface Segment {
  text: string;
  kind: SegmentKind;
}

/** The two sides of a preview: the original (same + removed) and the rewrite (same + added). */
export interface SideBySide {
  original: Segment[];
  rewrite: Segment[];
}

export function wordDiff(original: string, rewrite: string): SideBySide {
  const sides: SideBySide = { original: [], rewrite: [] };
  for (const change of diffWordsWithSpace(original, rewrite)) {
    if (change.removed) sides.original.push({ text: change.value, kind: "removed" });
    else if (change.added) sides.rewrite.push({ text: change.value, kind: "added" });
    else {
      sides.original.push({ text: change.value, kind: "same" });
      sides.rewrite.push({ text: change.value, kind: "same" });
    }
  }
  return sides;
}
