import type { SyntaxNode } from "@lezer/common";
import { parser } from "@prometheus-io/lezer-promql";

/** PromQL read with the parser Prometheus' own UI uses (@prometheus-io/lezer-promql). */

/** The metric name of every vector selector of a PromQL expression. */
export function metricsIn(expr: string): string[] {
    const names: string[] = [];
    parser.parse(expr).iterate({
        enter(node) {
            if (node.name === "VectorSelector") {
                const identifier = node.node.getChild("Identifier");
                if (identifier) {
                    names.push(expr.slice(identifier.from, identifier.to));
                }
            }
        },
    });
    return names;
}

const comparisons = new Set(["Gtr", "Lss", "Gte", "Lte", "EqlSingle", "Eql", "Neq"]);
const setOperators = new Set(["And", "Or", "Unless"]);

/**
 * The queries whose answers an alert's expression is made of, its thresholds removed: each must return
 * at least one series while the metrics it reads exist, whatever their values. From the top of the
 * expression down, through parentheses:
 * - `A > 0.05` (a comparison with a number, without `bool`): A; two vectors compared (`A >= B`): A and B;
 * - `A or B`, `A and B`, `A unless B`: A and B, each stripped the same way (`unless`'s right side is a
 *   filter, but the series it filters by must exist too);
 * - `absent(A)`: A (absent() answers only while A is missing; the series it watches must exist);
 * - anything else is kept whole (`A / B`, `time() - max(A)`): arithmetic answers only where both sides do.
 * A comparison nested in arithmetic (`A / (B > 0)`) is kept: it is part of what is computed, not the threshold.
 */
export function thresholdFree(expr: string): string[] {
    const tree = parser.parse(expr);
    const top = tree.topNode.firstChild;
    if (!top || hasError(expr)) {
        throw new Error(`not valid PromQL: ${expr}`);
    }
    return strip(expr, top);
}

function hasError(expr: string): boolean {
    let error = false;
    parser.parse(expr).iterate({
        enter(node) {
            if (node.type.isError) {
                error = true;
            }
        },
    });
    return error;
}

function children(node: SyntaxNode): SyntaxNode[] {
    const out: SyntaxNode[] = [];
    for (let child = node.firstChild; child; child = child.nextSibling) {
        out.push(child);
    }
    return out;
}

function strip(expr: string, node: SyntaxNode): string[] {
    const text = (n: SyntaxNode) => expr.slice(n.from, n.to);
    if (node.name === "ParenExpr") {
        const inner = children(node).find((c) => c.name !== "(" && c.name !== ")");
        return inner ? strip(expr, inner) : [text(node)];
    }
    if (node.name === "FunctionCall" && node.getChild("FunctionIdentifier")?.getChild("Absent")) {
        const argument = children(node.getChild("FunctionCallBody")!).find((c) => c.name !== "(" && c.name !== ")");
        return argument ? strip(expr, argument) : [text(node)];
    }
    if (node.name === "BinaryExpr") {
        const parts = children(node);
        const operator = parts.find((c) => comparisons.has(c.name) || setOperators.has(c.name));
        const [lhs, rhs] = [parts[0], parts[parts.length - 1]];
        if (operator && setOperators.has(operator.name)) {
            return [...strip(expr, lhs), ...strip(expr, rhs)];
        }
        if (operator && !node.getChild("BoolModifier")) {
            const vectors = [lhs, rhs].filter((side) => metricsIn(text(side)).length > 0);
            return vectors.flatMap((side) => strip(expr, side));
        }
    }
    return [text(node)];
}

/** Where the PromQL parser (the one Prometheus' own UI uses) finds a syntax error, or undefined. */
export function promqlError(expr: string): string | undefined {
    let error: string | undefined;
    parser.parse(expr).iterate({
        enter(node) {
            if (node.type.isError && error === undefined) {
                error = `at ${node.from}: ${JSON.stringify(expr.slice(Math.max(0, node.from - 20), node.from + 20))}`;
            }
        },
    });
    return error;
}
