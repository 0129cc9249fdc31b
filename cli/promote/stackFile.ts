import { readFileSync, writeFileSync } from "fs";
import { isMap, isScalar, Pair, parseDocument, Scalar, YAMLMap } from "yaml";
import { scalarSettings } from "../../config";

/**
 * Edits single config values of a Pulumi.<stack>.yaml in place. `pulumi config set` rewrites the
 * whole file (numbers become quoted strings, flow maps are reformatted, comments go), so a promotion
 * made with it shows a long diff for a two-key change; this edits only the entries it changes and
 * keeps every other line, comments included, byte for byte (the `yaml` package's Document API).
 */

type Setting = keyof typeof scalarSettings;

/** The value as the stack files write it: integers and booleans plain, strings as strings (quoted only where YAML needs it). */
function typedValue(key: string, value: string): string | number | boolean {
    const declared = scalarSettings[key as Setting]?.type;
    if (declared === "integer" && /^-?\d+$/.test(value)) {
        return Number(value);
    }
    if (declared === "boolean" && (value === "true" || value === "false")) {
        return value === "true";
    }
    return value;
}

function configMap(text: string) {
    const document = parseDocument(text);
    const config = document.get("config", true);
    if (!isMap(config)) {
        throw new Error("the stack file has no config: map");
    }
    return { document, config: config as YAMLMap<Scalar<string>, unknown> };
}

const render = (document: ReturnType<typeof parseDocument>) => document.toString({ lineWidth: 0 });

/**
 * The stack file `text` with `<project>:<key>` set to `value`. An existing entry keeps its place and
 * comments; a new one goes after the nearest setting declared before it (Pulumi.yaml's order) that the
 * file sets, else at the end.
 */
export function setStackFileValue(text: string, project: string, key: string, value: string): string {
    const { document, config } = configMap(text);
    const fullKey = `${project}:${key}`;
    const typed = typedValue(key, value);
    const existing = config.items.find((pair) => isScalar(pair.key) && pair.key.value === fullKey);
    if (existing && isScalar(existing.value)) {
        existing.value.value = typed;
    } else if (existing) {
        existing.value = document.createNode(typed);
    } else {
        const declared = Object.keys(scalarSettings);
        const before = declared.slice(0, Math.max(declared.indexOf(key), 0)).map((k) => `${project}:${k}`);
        const at = config.items.reduce((found, pair, i) => (isScalar(pair.key) && before.includes(String(pair.key.value)) ? i + 1 : found), config.items.length);
        config.items.splice(at, 0, document.createPair(fullKey, typed) as Pair<Scalar<string>, unknown>);
    }
    return render(document);
}

/** The stack file `text` without `<project>:<key>` (unchanged when it is not set). */
export function removeStackFileValue(text: string, project: string, key: string): string {
    const { document, config } = configMap(text);
    const fullKey = `${project}:${key}`;
    if (!config.items.some((pair) => isScalar(pair.key) && pair.key.value === fullKey)) {
        return text;
    }
    config.items = config.items.filter((pair) => !(isScalar(pair.key) && pair.key.value === fullKey));
    return render(document);
}

/** `<project>:<key>`'s value as the program receives it (a string), or undefined when unset. */
export function readStackFileValue(text: string, project: string, key: string): string | undefined {
    const node = configMap(text).config.get(`${project}:${key}`, true) as unknown;
    if (node === undefined || node === null) {
        return undefined;
    }
    const value = isScalar(node) ? node.value : (node as { toJSON(): unknown }).toJSON();
    return typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
}

/** Config reads and edits on a stack file, in place: what promotion needs of a stack's config. */
export function stackFileConfig(file: string, project: string) {
    return {
        async getConfig(key: string): Promise<string | undefined> {
            return readStackFileValue(readFileSync(file, "utf8"), project, key);
        },
        async setConfig(key: string, value: string): Promise<void> {
            writeFileSync(file, setStackFileValue(readFileSync(file, "utf8"), project, key, value));
        },
        async removeConfig(key: string): Promise<void> {
            writeFileSync(file, removeStackFileValue(readFileSync(file, "utf8"), project, key));
        },
    };
}
