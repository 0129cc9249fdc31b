/**
 * The reachability matrix (analysis/network/reachabilityMatrix.ts) as an SVG picture: rows are
 * sources, columns destinations, each cell the ports allowed, nothing, or "not governed" (neither end
 * in the program's namespace). Same house style as analysis/capacity/svgPlot.ts: plain SVG, fixed
 * sizes, deterministic output, so a committed picture can be compared with a fresh one.
 */
import { Matrix, Universe } from "./reachabilityMatrix";

const font = 12;
/** About how wide a character is at 12 px sans-serif; generous, so that labels never overlap. */
const charWidth = 7;
const rowHeight = 24;
const pad = 8;
const colors = { allowed: "#d8f0d3", allowedText: "#1a5e1a", denied: "#ffffff", deniedText: "#b0b0b0", ungoverned: "#ececec", grid: "#cccccc", text: "#222222", rule: "#555555" };

const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const textWidth = (text: string) => text.length * charWidth;

/** A cell's ports for the eye: `5432`, `53/udp`, `53 tcp/udp` (both), sorted by number. */
export function cellText(ports: readonly string[]): string {
    const byPort = new Map<number, Set<string>>();
    for (const p of ports) {
        const [port, protocol] = p.split("/");
        byPort.set(Number(port), (byPort.get(Number(port)) ?? new Set()).add(protocol));
    }
    return [...byPort]
        .sort(([a], [b]) => a - b)
        .map(([port, protocols]) => (protocols.size > 1 ? `${port} tcp/udp` : protocols.has("TCP") ? `${port}` : `${port}/${[...protocols][0].toLowerCase()}`))
        .join(", ");
}

export interface MatrixPictureOptions {
    title: string;
    subtitle: string;
    /** Roles that are the program's own pods: drawn first, set off from the cast around them. */
    programRoles: readonly string[];
}

/** The matrix as an SVG document. */
export function plotMatrix(universe: Universe, matrix: Matrix, options: MatrixPictureOptions): string {
    const own = universe.roles.filter((r) => options.programRoles.includes(r.name));
    const roles = [...own, ...universe.roles.filter((r) => !options.programRoles.includes(r.name))];
    const names = roles.map((r) => r.name);
    const cell = (from: string, to: string) => matrix.get(from)?.get(to);
    const label = (ports: string[] | undefined) => (ports === undefined ? "·" : ports.length === 0 ? "–" : cellText(ports));

    // Column widths from their widest cell; the headers are slanted, so they need no width.
    const widths = names.map((to) => Math.max(40, ...names.map((from) => textWidth(label(cell(from, to))) + 2 * pad)));
    const rowLabelWidth = Math.max(...names.map(textWidth)) + 2 * pad;
    const headerHeight = Math.ceil((Math.max(...names.map(textWidth)) + pad) * Math.SQRT1_2) + pad;
    const left = 20;
    const top = 70 + headerHeight;
    const gridLeft = left + rowLabelWidth;
    const gridWidth = widths.reduce((a, b) => a + b, 0);
    const gridHeight = names.length * rowHeight;
    const xs = widths.map((_, i) => gridLeft + widths.slice(0, i).reduce((a, b) => a + b, 0));
    const legendTop = top + gridHeight + 36;
    const legend = roles.map((r) => `${r.name}: ${r.description}`);
    const keyLines = 3;
    const height = legendTop + (keyLines + 1 + legend.length) * 18 + 12;
    const width = Math.max(gridLeft + gridWidth + headerHeight + left, left + Math.max(...legend.map(textWidth)) + left, left + textWidth(options.subtitle) + left);

    const parts: string[] = [];
    parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="${font}">`);
    parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
    parts.push(`<text x="${left}" y="24" font-size="16" fill="${colors.text}">${escape(options.title)}</text>`);
    parts.push(`<text x="${left}" y="44" fill="${colors.text}">${escape(options.subtitle)}</text>`);
    parts.push(`<text x="${left}" y="${top - 8}" fill="${colors.text}" font-style="italic">from \\ to</text>`);

    // Column headers, slanted up to the right from the top of their column.
    names.forEach((to, i) => {
        const x = xs[i] + widths[i] / 2;
        parts.push(`<text transform="translate(${x} ${top - 6}) rotate(-45)" fill="${colors.text}">${escape(to)}</text>`);
    });
    // Rows: label and cells.
    names.forEach((from, row) => {
        const y = top + row * rowHeight;
        parts.push(`<text x="${gridLeft - pad}" y="${y + rowHeight / 2 + 4}" text-anchor="end" fill="${colors.text}">${escape(from)}</text>`);
        names.forEach((to, column) => {
            const ports = cell(from, to);
            const fill = ports === undefined ? colors.ungoverned : ports.length === 0 ? colors.denied : colors.allowed;
            const ink = ports !== undefined && ports.length > 0 ? colors.allowedText : colors.deniedText;
            const meaning = ports === undefined ? "not governed by the program" : ports.length === 0 ? "nothing allowed" : ports.join(", ");
            parts.push(
                `<g><title>${escape(`${from} → ${to}: ${meaning}`)}</title>` +
                    `<rect x="${xs[column]}" y="${y}" width="${widths[column]}" height="${rowHeight}" fill="${fill}" stroke="${colors.grid}"/>` +
                    `<text x="${xs[column] + widths[column] / 2}" y="${y + rowHeight / 2 + 4}" text-anchor="middle" fill="${ink}"${ports && ports.length > 0 ? ' font-weight="bold"' : ""}>${escape(label(ports))}</text></g>`,
            );
        });
    });
    // The program's own pods set off from the cast around them.
    if (own.length > 0 && own.length < roles.length) {
        const x = xs[own.length];
        const y = top + own.length * rowHeight;
        parts.push(`<line x1="${gridLeft}" y1="${y}" x2="${gridLeft + gridWidth}" y2="${y}" stroke="${colors.rule}" stroke-width="2"/>`);
        parts.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${top + gridHeight}" stroke="${colors.rule}" stroke-width="2"/>`);
    }
    parts.push(`<rect x="${gridLeft}" y="${top}" width="${gridWidth}" height="${gridHeight}" fill="none" stroke="${colors.rule}"/>`);

    // Key, then what each role stands for.
    const key: Array<[string, string, string]> = [
        [colors.allowed, "5432", "allowed: these ports (TCP unless marked /udp; tcp/udp: both)"],
        [colors.denied, "–", `nothing allowed (one end is in ${universe.namespace})`],
        [colors.ungoverned, "·", `not governed: neither end is in ${universe.namespace}`],
    ];
    key.forEach(([fill, sample, text], i) => {
        const y = legendTop + i * 18;
        parts.push(`<rect x="${left}" y="${y - 12}" width="36" height="16" fill="${fill}" stroke="${colors.grid}"/>`);
        parts.push(`<text x="${left + 18}" y="${y}" text-anchor="middle" fill="${fill === colors.allowed ? colors.allowedText : colors.deniedText}">${escape(sample)}</text>`);
        parts.push(`<text x="${left + 46}" y="${y}" fill="${colors.text}">${escape(text)}</text>`);
    });
    legend.forEach((line, i) => {
        parts.push(`<text x="${left}" y="${legendTop + (keyLines + 1 + i) * 18}" fill="${colors.text}">${escape(line)}</text>`);
    });
    parts.push("</svg>");
    return `${parts.join("\n")}\n`;
}
