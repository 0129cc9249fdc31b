/** One JSON object per line on stdout, as log collectors expect. */
export function log(level: "info" | "warn" | "error", message: string, fields: Record<string, unknown> = {}): void {
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })}\n`);
}
