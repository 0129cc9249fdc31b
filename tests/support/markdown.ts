/** Markdown as GitHub renders it: the anchors of headings (the docs tests and the runbook links use them). */

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
export function anchorOf(heading: string): string {
    return heading
        .replace(/`/g, "")
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, "")
        .replace(/ /g, "-");
}

/** Every anchor of a Markdown page (repeated headings get -1, -2, ... as on GitHub). */
export function anchorsOf(text: string): Set<string> {
    const seen = new Map<string, number>();
    const anchors = new Set<string>();
    let fenced = false;
    for (const line of text.split("\n")) {
        if (line.startsWith("```")) {
            fenced = !fenced;
        }
        const heading = !fenced && /^#{1,6} (.*)$/.exec(line);
        if (heading) {
            const base = anchorOf(heading[1].trim());
            const n = seen.get(base) ?? 0;
            seen.set(base, n + 1);
            anchors.add(n === 0 ? base : `${base}-${n}`);
        }
    }
    return anchors;
}
