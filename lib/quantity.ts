/**
 * Kubernetes resource quantities, parsed strictly enough to catch the usual mistakes
 * (`500mb`, `2 cores`, `-1Gi`, memory in millibytes) before anything reaches the cluster.
 */

const binarySuffixes: Record<string, number> = {
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    Pi: 2 ** 50,
    Ei: 2 ** 60,
};
const decimalSuffixes: Record<string, number> = { k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

const cpuPattern = /^(\d+(?:\.\d+)?)(m?)$/;
const bytesPattern = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;

/** CPU in millicores (`250m` -> 250, `2` -> 2000), or undefined when `text` is not a positive CPU quantity. */
export function parseCpu(text: string): number | undefined {
    const match = cpuPattern.exec(text);
    if (!match) {
        return undefined;
    }
    const millicores = match[2] === "m" ? Number(match[1]) : Number(match[1]) * 1000;
    return millicores > 0 ? millicores : undefined;
}

/** A byte quantity (`512Mi`, `10Gi`, `1G`) in bytes, or undefined when `text` is not a positive byte quantity. */
export function parseBytes(text: string): number | undefined {
    const match = bytesPattern.exec(text);
    if (!match) {
        return undefined;
    }
    const suffix = match[2] ?? "";
    const factor = binarySuffixes[suffix] ?? decimalSuffixes[suffix] ?? 1;
    const bytes = Number(match[1]) * factor;
    return bytes > 0 ? bytes : undefined;
}

/** What a CPU quantity looks like, for error messages. */
export const cpuExpectation = "a positive CPU quantity such as 250m or 2";

/** What a byte quantity looks like, for error messages. */
export const bytesExpectation = "a positive byte quantity such as 512Mi, 2Gi or 10Gi";

/** A hint for a near-miss byte quantity (`500mb`, `512m`), or "" when there is none. */
export function bytesHint(text: string): string {
    const lower = /^(\d+(?:\.\d+)?)\s*(k|m|g|t)i?b?$/i.exec(text.trim());
    if (!lower) {
        return "";
    }
    const unit = lower[2].toUpperCase();
    return ` (did you mean ${lower[1]}${unit === "K" ? "Ki" : unit + "i"}?)`;
}

// Any quantity, for values that are neither CPU nor bytes (HPA targets such as averageValue "1k").
const smallSuffixes: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3 };
const quantityPattern = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei))?$/;

/** A Kubernetes quantity (`1000`, `1k`, `500m`, `2Gi`, `1e3`, or a number) as a plain number, or undefined. */
export function parseQuantity(value: unknown): number | undefined {
    if (typeof value === "number") {
        return Number.isFinite(value) ? value : undefined;
    }
    const match = typeof value === "string" ? quantityPattern.exec(value.trim()) : null;
    if (!match) {
        return undefined;
    }
    const exponent = match[2] ? Number(`1${match[2]}`) : 1;
    const suffix = match[3] ?? "";
    return Number(match[1]) * exponent * (smallSuffixes[suffix] ?? binarySuffixes[suffix] ?? decimalSuffixes[suffix] ?? 1);
}
