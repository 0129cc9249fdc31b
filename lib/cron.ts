/**
 * CronJob schedules as Kubernetes reads them (the standard five fields of robfig/cron's
 * ParseStandard: minute hour day-of-month month day-of-week, with names, ranges, steps, lists and the
 * @yearly ... @hourly macros), parsed strictly, and the longest gap between two runs: what a "backup
 * is missing" alert waits for before it fires.
 */

/** A parsed schedule: the values each field allows, and whether the day fields were restricted. */
export interface CronSchedule {
    readonly minutes: ReadonlySet<number>;
    readonly hours: ReadonlySet<number>;
    readonly daysOfMonth: ReadonlySet<number>;
    readonly months: ReadonlySet<number>;
    /** 0 = Sunday. */
    readonly daysOfWeek: ReadonlySet<number>;
    /** Whether day-of-month / day-of-week were `*` or `?`: cron ORs the two day fields only when both are restricted. */
    readonly anyDayOfMonth: boolean;
    readonly anyDayOfWeek: boolean;
}

const macros: Record<string, string> = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
};

const monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

interface FieldSpec {
    readonly name: string;
    readonly min: number;
    readonly max: number;
    /** Names for values, from `min` on. */
    readonly names?: readonly string[];
}

const fields: readonly FieldSpec[] = [
    { name: "minute", min: 0, max: 59 },
    { name: "hour", min: 0, max: 23 },
    { name: "day of month", min: 1, max: 31 },
    { name: "month", min: 1, max: 12, names: monthNames },
    // 7 is Sunday too, as in most crons.
    { name: "day of week", min: 0, max: 7, names: dayNames },
];

/** Parses a schedule, or says what is wrong with it. */
export function parseCron(text: string): { schedule: CronSchedule } | { problem: string } {
    const trimmed = text.trim();
    if (trimmed.startsWith("@")) {
        const expansion = macros[trimmed.toLowerCase()];
        if (!expansion) {
            return { problem: `${trimmed} is not one of ${Object.keys(macros).join(", ")}` };
        }
        return parseCron(expansion);
    }
    if (/^(TZ|CRON_TZ)=/.test(trimmed)) {
        return { problem: "a time zone in the schedule is refused by Kubernetes (the CronJob runs in UTC)" };
    }
    const parts = trimmed.split(/\s+/);
    if (parts.length !== 5) {
        return { problem: `it has ${parts.length} field${parts.length === 1 ? "" : "s"}, not 5 (minute hour day-of-month month day-of-week)` };
    }
    const sets: Set<number>[] = [];
    for (let i = 0; i < 5; i++) {
        const parsed = parseField(parts[i], fields[i]);
        if ("problem" in parsed) {
            return parsed;
        }
        sets.push(parsed.values);
    }
    const daysOfWeek = new Set([...sets[4]].map((d) => d % 7));
    const anyDay = (field: string) => field === "*" || field === "?";
    return {
        schedule: {
            minutes: sets[0],
            hours: sets[1],
            daysOfMonth: sets[2],
            months: sets[3],
            daysOfWeek,
            anyDayOfMonth: anyDay(parts[2]),
            anyDayOfWeek: anyDay(parts[4]),
        },
    };
}

function parseField(text: string, spec: FieldSpec): { values: Set<number> } | { problem: string } {
    const values = new Set<number>();
    const value = (token: string): number | undefined => {
        const index = spec.names?.indexOf(token.toLowerCase()) ?? -1;
        if (index >= 0) {
            return spec.min + index;
        }
        return /^\d+$/.test(token) ? Number(token) : undefined;
    };
    for (const item of text.split(",")) {
        const match = /^(\*|\?|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:\/(\d+))?$/.exec(item);
        if (!match || (match[1] === "?" && spec.name !== "day of month" && spec.name !== "day of week")) {
            return { problem: `"${item}" is not a valid ${spec.name}` };
        }
        const [, range, stepText] = match;
        const step = stepText === undefined ? 1 : Number(stepText);
        let from: number | undefined;
        let to: number | undefined;
        if (range === "*" || range === "?") {
            [from, to] = [spec.min, spec.name === "day of week" ? 6 : spec.max];
        } else {
            const [a, b] = range.split("-");
            from = value(a);
            // "5/15" means from 5 to the end, every 15.
            to = b !== undefined ? value(b) : stepText !== undefined ? spec.max : from;
        }
        if (from === undefined || to === undefined || from < spec.min || to > spec.max || from > to || step < 1) {
            return { problem: `"${item}" is not a valid ${spec.name} (${spec.min}-${spec.max}${spec.names ? " or a name" : ""})` };
        }
        for (let v = from; v <= to; v += step) {
            values.add(v);
        }
    }
    return { values };
}

/** Whether the schedule runs on that (UTC) day. */
function runsOnDay(s: CronSchedule, day: Date): boolean {
    if (!s.months.has(day.getUTCMonth() + 1)) {
        return false;
    }
    const dom = s.daysOfMonth.has(day.getUTCDate());
    const dow = s.daysOfWeek.has(day.getUTCDay());
    // Standard cron: both day fields restricted means either may match.
    return s.anyDayOfMonth || s.anyDayOfWeek ? dom && dow : dom || dow;
}

/**
 * The longest time between two consecutive runs, in seconds, over two years of UTC calendar (leap
 * year included), or undefined when the schedule runs fewer than twice in that time.
 */
export function longestGapSeconds(s: CronSchedule): number | undefined {
    const minutesOfDay = [...s.hours].sort((a, b) => a - b).flatMap((h) => [...s.minutes].sort((a, b) => a - b).map((m) => h * 60 + m));
    const start = Date.UTC(2027, 0, 1);
    const days = 2 * 366;
    let previous: number | undefined;
    let longest = 0;
    for (let d = 0; d < days; d++) {
        const dayStart = start + d * 86400000;
        if (!runsOnDay(s, new Date(dayStart))) {
            continue;
        }
        for (const minute of minutesOfDay) {
            const at = dayStart / 1000 + minute * 60;
            if (previous !== undefined) {
                longest = Math.max(longest, at - previous);
            }
            previous = at;
        }
    }
    return longest > 0 ? longest : undefined;
}
